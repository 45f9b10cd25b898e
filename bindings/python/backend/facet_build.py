"""PEP 517 build backend for the facet Python package, with no dependencies.

Why our own: the package is pure Python (ctypes over libfacet), and a backend from PyPI would
make `pip install bindings/python` fail on machines without PyPI (build isolation downloads it).
A wheel is a zip with three metadata files, so writing one takes less code than configuring a
foreign backend to find libfacet.

Where the installed package will find libfacet, decided at build time, in order:
  FACET_LIB=/path/libfacet.so   that file is copied into the wheel (facet/libfacet.so);
  FACET_LIB=none                no library: the package finds one at run time (FACET_LIB, the
                                system loader) or is used only as an HTTP client;
  pkg-config finds facet        an installed libfacet (meson install, the libfacet-dev package):
                                its path is recorded in facet/_buildinfo.py, nothing is copied,
                                so upgrading the library upgrades what Python uses;
  ../../build/libfacet.so       this checkout's build (make build): copied into the wheel.
A wheel that carries a copy of the library is tagged for this platform, the others are py3-none-any.
"""
import base64
import glob
import hashlib
import io
import os
import re
import subprocess
import sysconfig
import tarfile
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
_NAME = "facet"
_SUMMARY = "Face detection, faceprints and 1:N search over libfacet, and a client for facetd"


def _version():
    with open(os.path.join(_ROOT, "facet", "_version.py")) as f:
        m = re.search(r'^__version__ = "([0-9][0-9A-Za-z.+-]*)"$', f.read(), re.M)
    if not m:
        raise RuntimeError("facet/_version.py has no __version__ line")
    return m.group(1)


def _find_library():
    """(path, bundle): the libfacet to use and whether to copy it into the wheel."""
    env = os.environ.get("FACET_LIB", "")
    if env == "none":
        return None, False
    if env:
        if not os.path.isfile(env):
            raise RuntimeError("FACET_LIB=%s: no such file" % env)
        return os.path.realpath(env), True
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "facet"], capture_output=True, text=True)
        libdir = r.stdout.strip() if r.returncode == 0 else ""
    except OSError:  # no pkg-config
        libdir = ""
    if libdir:
        # The soname (libfacet.so.0) rather than the -dev symlink, which may be removed.
        versioned = sorted(glob.glob(os.path.join(libdir, "libfacet.so.[0-9]*")), key=len)
        if versioned:
            return versioned[0], False
        if os.path.exists(os.path.join(libdir, "libfacet.so")):
            return os.path.join(libdir, "libfacet.so"), False
    built = os.path.normpath(os.path.join(_ROOT, "..", "..", "build", "libfacet.so"))
    if os.path.isfile(built):
        return os.path.realpath(built), True
    raise RuntimeError("libfacet not found: build it (make build), install it (meson install -C build or the "
                       "libfacet-dev package), set FACET_LIB=/path/to/libfacet.so, or FACET_LIB=none for a "
                       "package that finds the library only at run time")


def _metadata():
    with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: MIT\nRequires-Python: >=3.8\n"
            "Provides-Extra: numpy\nRequires-Dist: numpy; extra == \"numpy\"\n"
            "Description-Content-Type: text/markdown\n\n%s" % (_NAME, _version(), _SUMMARY, readme)).encode()


def _package_files():
    """(archive name, bytes) of the package's sources, sorted, without build products."""
    out = []
    pkg = os.path.join(_ROOT, _NAME)
    for name in sorted(os.listdir(pkg)):
        if (name.endswith(".py") or name == "py.typed") and name != "_buildinfo.py":
            with open(os.path.join(pkg, name), "rb") as f:
                out.append(("%s/%s" % (_NAME, name), f.read()))
    return out


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_wheel(directory, files, tag, purelib):
    """Writes files [(name, bytes, mode)] plus .dist-info into a wheel; returns its file name."""
    dist_info = "%s-%s.dist-info" % (_NAME, _version())
    wheel = ("Wheel-Version: 1.0\nGenerator: facet_build\nRoot-Is-Purelib: %s\nTag: %s\n"
             % ("true" if purelib else "false", tag)).encode()
    files = files + [(dist_info + "/METADATA", _metadata(), 0o644), (dist_info + "/WHEEL", wheel, 0o644),
                     (dist_info + "/top_level.txt", (_NAME + "\n").encode(), 0o644)]
    record = "".join("%s,%s,%d\n" % (n, _record_hash(d), len(d)) for n, d, _ in files)
    record += dist_info + "/RECORD,,\n"
    files.append((dist_info + "/RECORD", record.encode(), 0o644))
    filename = "%s-%s-%s.whl" % (_NAME, _version(), tag)
    with zipfile.ZipFile(os.path.join(directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    path, bundle = _find_library()
    files = [(n, d, 0o644) for n, d in _package_files()]
    info = ('"""Written by the build backend: the libfacet this package was built against."""\n'
            "LIBFACET = %r\n" % ("" if bundle or path is None else path))
    files.append((_NAME + "/_buildinfo.py", info.encode(), 0o644))
    tag = "py3-none-any"
    if bundle:
        with open(path, "rb") as f:
            files.append((_NAME + "/libfacet.so", f.read(), 0o755))
        tag = "py3-none-" + re.sub(r"[-.]", "_", sysconfig.get_platform())
    return _write_wheel(wheel_directory, files, tag, purelib=not bundle)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """`pip install -e`: a .pth file puts this folder on sys.path; the library is then found
    like in a checkout (FACET_LIB, build/libfacet.so, the system loader)."""
    pth = (_ROOT + "\n").encode()
    return _write_wheel(wheel_directory, [("__editable__.facet.pth", pth, 0o644)], "py3-none-any", purelib=True)


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (_NAME, _version())
    filename = base + ".tar.gz"
    members = [("pyproject.toml", None), ("README.md", None), ("backend/facet_build.py", None)]
    members += [(n, d) for n, d in _package_files()]
    members.append(("PKG-INFO", _metadata()))
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            if data is None:
                with open(os.path.join(_ROOT, name), "rb") as f:
                    data = f.read()
            info = tarfile.TarInfo("%s/%s" % (base, name))
            info.size, info.mode, info.mtime = len(data), 0o644, 1577836800
            t.addfile(info, io.BytesIO(data))
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []
