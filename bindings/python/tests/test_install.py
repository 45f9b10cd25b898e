"""The package as pip installed it: found without paths set by hand, consistent versions."""
import os
import re

from conftest import REPO


def test_imported_from_the_installed_package(facet):
    # The runner installs into a fresh venv and runs from a temporary folder; set
    # FACET_EXPECT_PREFIX so that importing the checkout's copy by mistake fails here.
    prefix = os.environ.get("FACET_EXPECT_PREFIX")
    if prefix:
        assert os.path.realpath(facet.__file__).startswith(os.path.realpath(prefix)), facet.__file__
        assert "FACET_LIB" not in os.environ  # found by the package itself
    path = facet.library_path()
    assert os.path.exists(path), path
    if prefix:
        assert os.path.realpath(path).startswith(os.path.realpath(prefix)), path  # the bundled copy


def test_versions_agree(facet):
    with open(os.path.join(REPO, "meson.build")) as f:
        meson_version = re.search(r"version : '([^']+)'", f.read()).group(1)
    assert facet.__version__ == meson_version
    assert facet.version() == meson_version
    assert "avx2" in facet.cpu_features() or facet.cpu_features() != ""


def test_typed(facet):
    assert os.path.exists(os.path.join(os.path.dirname(facet.__file__), "py.typed"))


def test_bad_override_is_an_error_not_a_fallback(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, FACET_LIB=str(tmp_path / "libfacet.so"))
    r = subprocess.run([sys.executable, "-c", "import facet; facet.version()"], env=env, capture_output=True,
                       text=True, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "LibraryNotFound" in r.stderr and str(tmp_path / "libfacet.so") in r.stderr, r.stderr
