"""The ctypes structs against the C compiler's layout (sizes and every field's offset), printed
by tests/python_abi.c of the same build."""
import os
import subprocess

import pytest

from facet import _lib


def test_struct_layouts():
    exe = os.environ.get("FACET_ABI_EXE")
    if not exe:
        pytest.skip("FACET_ABI_EXE not set (run through meson: meson test python)")
    lines = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split("\n")
    checked = 0
    for line in filter(None, lines):
        struct, field, value = line.split()
        cls = getattr(_lib, struct)
        if field == "sizeof":
            assert __import__("ctypes").sizeof(cls) == int(value), struct
        else:
            assert getattr(cls, field).offset == int(value), (struct, field)
        checked += 1
    names = {line.split()[0] for line in lines if line}
    structs = {"FaceT", "FaceprintT", "ImageT", "DecodeOptions", "SdkSettings", "QualityT", "AttributesT",
               "GallerySettings", "CollectionSettings", "CollectionInfoT", "LoadStats", "IdentityCount", "FaceRef",
               "MatchT"}
    assert names == structs, names ^ structs
    # every ctypes field has a C twin
    for s in structs:
        fields = {line.split()[1] for line in lines if line and line.split()[0] == s} - {"sizeof"}
        assert fields == {f for f, _ in getattr(_lib, s)._fields_}, s
    assert checked > 60
