"""Finding, loading and declaring libfacet for ctypes.

The library is loaded on first use, not at import, so that `facet.client` (plain HTTP) works on
a machine without libfacet. Where it is looked for, in order:

1. $FACET_LIB, a path to libfacet.so (an explicit override always wins);
2. a copy bundled next to this file (a wheel built from a build tree carries one);
3. the path recorded when the package was built against an installed libfacet (pkg-config);
4. build/libfacet.so of the checkout this file sits in (PYTHONPATH=bindings/python);
5. the system's dynamic loader (ctypes.util.find_library("facet")).

The structs below mirror include/facet/*.h field for field; bindings/python/tests/test_abi.py
compares their sizes and offsets with the C compiler's.
ctypes releases the GIL during every foreign call, so threads may share an SDK and a Gallery.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Callable, List, Optional

from .errors import Error, Status, _error_for

FACEPRINT_DIM = 512
MODEL_MAX = 40
UUID_SIZE = 37
IDENTITY_MAX = 255
NAME_MAX = 127
EXPR_COUNT = 7

_P = ctypes.POINTER
c_int, c_float, c_char_p, c_void_p = ctypes.c_int, ctypes.c_float, ctypes.c_char_p, ctypes.c_void_p
c_size_t, c_uint8, c_int64, c_uint = ctypes.c_size_t, ctypes.c_uint8, ctypes.c_int64, ctypes.c_uint


class Point(ctypes.Structure):
    _fields_ = [("x", c_float), ("y", c_float)]


class FaceT(ctypes.Structure):
    _fields_ = [("x", c_float), ("y", c_float), ("w", c_float), ("h", c_float), ("score", c_float),
                ("kps", Point * 5), ("landmarks", Point * 68), ("has_landmarks", c_int)]


class FaceprintT(ctypes.Structure):
    _fields_ = [("model", ctypes.c_char * MODEL_MAX), ("dim", c_int), ("v", c_float * FACEPRINT_DIM)]


class ImageT(ctypes.Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("channels", c_int), ("stride", c_int),
                ("data", _P(c_uint8))]


class DecodeOptions(ctypes.Structure):
    _fields_ = [("max_pixels", c_int64), ("apply_exif", c_int), ("channels", c_int), ("scale_denom", c_int),
                ("allow_corrupt", c_int)]


class SdkSettings(ctypes.Structure):
    _fields_ = [("model_dir", c_char_p), ("num_threads", c_int), ("preload", c_uint), ("backend", c_int),
                ("detect_threshold", c_float), ("nms_threshold", c_float), ("smallest_face_height", c_int),
                ("detect_passes", c_int), ("max_pixels", c_int64), ("detect_verify", c_int), ("allow_corrupt", c_int),
                ("boxes_only", c_int), ("faceprint_mirror", c_int)]


class QualityT(ctypes.Structure):
    _fields_ = [("blur", c_int), ("blur_score", c_float), ("exposure", c_int), ("exposure_score", c_float),
                ("face_height", c_float), ("has_pose", c_int), ("yaw", c_float), ("pitch", c_float),
                ("roll", c_float), ("has_eyes", c_int), ("left_eye_open", c_int), ("right_eye_open", c_int),
                ("left_eye_score", c_float), ("right_eye_score", c_float), ("has_liveness", c_int),
                ("is_live", c_int), ("liveness_score", c_float)]


class AttributesT(ctypes.Structure):
    _fields_ = [("age", c_float), ("gender", c_int), ("gender_score", c_float), ("expression", c_int),
                ("expression_scores", c_float * EXPR_COUNT)]


class GallerySettings(ctypes.Structure):
    _fields_ = [("threads", c_int), ("match_a", c_float), ("match_b", c_float), ("follow", c_int),
                ("follow_interval_ms", c_int), ("change_keep_s", c_int), ("must_exist", c_int)]


class CollectionSettings(ctypes.Structure):
    _fields_ = [("model_id", c_char_p), ("dim", c_int), ("dtype", c_int), ("keep_payload", c_int)]


class CollectionInfoT(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * (NAME_MAX + 1)), ("model_id", ctypes.c_char * (NAME_MAX + 1)),
                ("dim", c_int), ("dtype", c_int), ("keep_payload", c_int), ("loaded", c_int),
                ("count", c_size_t), ("created", c_int64)]


class LoadStats(ctypes.Structure):
    _fields_ = [("loaded", c_size_t), ("bad_length", c_size_t), ("bad_model", c_size_t),
                ("bad_value", c_size_t), ("bad_other", c_size_t), ("ms", ctypes.c_double)]


class IdentityCount(ctypes.Structure):
    _fields_ = [("identity", ctypes.c_char * (IDENTITY_MAX + 1)), ("count", c_size_t)]


class FaceRef(ctypes.Structure):
    _fields_ = [("uuid", ctypes.c_char * UUID_SIZE), ("identity", ctypes.c_char * (IDENTITY_MAX + 1))]


class MatchT(ctypes.Structure):
    _fields_ = [("identity", ctypes.c_char * (IDENTITY_MAX + 1)), ("uuid", ctypes.c_char * UUID_SIZE),
                ("similarity", c_float), ("probability", c_float)]


UuidBuf = ctypes.c_char * UUID_SIZE
PayloadFn = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_void_p, c_size_t)

# name: (restype, argtypes). Calls that return facet_status are declared c_int (an enum's ABI).
_PROTOTYPES = {
    "facet_version": (c_char_p, []),
    "facet_status_str": (c_char_p, [c_int]),
    "facet_last_error": (c_char_p, []),
    "facet_cpu_features": (c_char_p, []),
    "facet_cpu_count": (c_int, []),
    "facet_image_destroy": (None, [_P(ImageT)]),
    "facet_image_clone": (c_int, [_P(ImageT), _P(_P(ImageT))]),
    "facet_decode_defaults": (None, [_P(DecodeOptions)]),
    "facet_image_decode_file": (c_int, [c_char_p, _P(DecodeOptions), _P(_P(ImageT))]),
    "facet_image_decode_memory": (c_int, [c_void_p, c_size_t, _P(DecodeOptions), _P(_P(ImageT))]),
    "facet_image_from_pixels": (c_int, [c_int, c_int, c_int, c_int, c_void_p, _P(_P(ImageT))]),
    "facet_image_crop": (c_int, [_P(ImageT), c_int, c_int, c_int, c_int, _P(_P(ImageT))]),
    "facet_image_resize": (c_int, [_P(ImageT), c_int, c_int, _P(_P(ImageT))]),
    "facet_image_encode_png": (c_int, [_P(ImageT), _P(_P(c_uint8)), _P(c_size_t)]),
    "facet_image_write_png": (c_int, [_P(ImageT), c_char_p]),
    "facet_sdk_defaults": (None, [_P(SdkSettings)]),
    "facet_sdk_create": (c_int, [_P(SdkSettings), _P(c_void_p)]),
    "facet_sdk_destroy": (None, [c_void_p]),
    "facet_sdk_load": (c_int, [c_void_p, c_uint]),
    "facet_sdk_settings_get": (c_int, [c_void_p, _P(SdkSettings)]),
    "facet_detect_faces": (c_int, [c_void_p, _P(ImageT), _P(_P(FaceT)), _P(c_int)]),
    "facet_detect_largest_face": (c_int, [c_void_p, _P(ImageT), _P(FaceT)]),
    "facet_face_landmarks": (c_int, [c_void_p, _P(ImageT), _P(FaceT)]),
    "facet_extract_aligned_face": (c_int, [c_void_p, _P(ImageT), _P(FaceT), _P(_P(ImageT))]),
    "facet_faceprint_extract": (c_int, [c_void_p, _P(ImageT), _P(FaceT), _P(FaceprintT)]),
    "facet_faceprint_from_chip": (c_int, [c_void_p, _P(ImageT), _P(FaceprintT)]),
    "facet_sdk_faceprint_model": (c_int, [c_void_p, ctypes.c_char * MODEL_MAX]),
    "facet_faceprint_serialize": (c_int, [_P(FaceprintT), c_int, _P(_P(c_uint8)), _P(c_size_t)]),
    "facet_faceprint_deserialize": (c_int, [c_char_p, c_size_t, _P(FaceprintT)]),
    "facet_faceprint_to_json": (c_int, [_P(FaceprintT), c_int, _P(c_void_p)]),
    "facet_faceprint_from_json": (c_int, [c_char_p, _P(FaceprintT)]),
    "facet_compare": (c_int, [_P(FaceprintT), _P(FaceprintT), _P(c_float), _P(c_float)]),
    "facet_match_probability": (c_float, [c_float]),
    "facet_match_model": (None, [_P(c_float), _P(c_float)]),
    "facet_match_threshold": (c_float, []),
    "facet_face_quality": (c_int, [c_void_p, _P(ImageT), _P(FaceT), c_uint, _P(QualityT)]),
    "facet_face_attributes": (c_int, [c_void_p, _P(ImageT), _P(FaceT), _P(AttributesT)]),
    "facet_expression_name": (c_char_p, [c_int]),
    "facet_gallery_defaults": (None, [_P(GallerySettings)]),
    "facet_gallery_open": (c_int, [c_char_p, _P(GallerySettings), _P(c_void_p)]),
    "facet_gallery_destroy": (None, [c_void_p]),
    "facet_gallery_set_match_model": (c_int, [c_void_p, c_float, c_float]),
    "facet_collection_defaults": (None, [_P(CollectionSettings)]),
    "facet_collection_create": (c_int, [c_void_p, c_char_p, _P(CollectionSettings)]),
    "facet_collection_load": (c_int, [c_void_p, c_char_p, _P(LoadStats)]),
    "facet_collection_unload": (c_int, [c_void_p, c_char_p]),
    "facet_collection_drop": (c_int, [c_void_p, c_char_p]),
    "facet_collection_list": (c_int, [c_void_p, _P(_P(CollectionInfoT)), _P(c_size_t)]),
    "facet_collection_get": (c_int, [c_void_p, c_char_p, _P(CollectionInfoT)]),
    "facet_gallery_enroll": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_float), c_int, c_char_p, c_void_p,
                                     c_size_t, UuidBuf]),
    "facet_gallery_enroll_batch": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_float), c_size_t, c_int,
                                           _P(c_char_p), _P(UuidBuf)]),
    "facet_gallery_remove": (c_int, [c_void_p, c_char_p, c_char_p]),
    "facet_gallery_remove_identity": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_size_t)]),
    "facet_gallery_identities": (c_int, [c_void_p, c_char_p, _P(_P(IdentityCount)), _P(c_size_t)]),
    "facet_gallery_count": (c_int, [c_void_p, c_char_p, _P(c_size_t)]),
    "facet_gallery_identify_top_k": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_float), c_int, c_int,
                                             _P(MatchT), _P(c_int)]),
    "facet_gallery_batch_identify": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_float), c_size_t, c_int,
                                             c_int, _P(MatchT), _P(c_int)]),
    "facet_gallery_faces": (c_int, [c_void_p, c_char_p, c_char_p, c_size_t, c_size_t, _P(_P(FaceRef)),
                                    _P(c_size_t), _P(c_size_t)]),
    "facet_gallery_face": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_float), c_int,
                                   ctypes.c_char * (IDENTITY_MAX + 1)]),
    "facet_gallery_payload": (c_int, [c_void_p, c_char_p, c_char_p, _P(c_void_p), _P(c_size_t)]),
    "facet_gallery_rename_identity": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, _P(c_size_t)]),
    "facet_collection_foreach_payload": (c_int, [c_void_p, c_char_p, PayloadFn, c_void_p]),
}


class LibraryNotFound(ImportError):
    """libfacet could not be found or loaded; the message lists every place that was tried."""


_here = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_loaded: Optional[ctypes.CDLL] = None
_loaded_path: Optional[str] = None
_free: Optional[Callable[[int], None]] = None


class Owned:
    """Base of the classes that own a libfacet handle (`_h`): close(), the end of a with-block or
    the garbage collector destroys it once, with the function named by `_destroy`; using the
    object after close() raises ValueError rather than passing NULL to the library."""

    _destroy = ""
    _h = None

    def _handle(self):
        if not self._h:
            raise ValueError("the %s was closed" % type(self).__name__)
        return self._h

    def close(self) -> None:
        """Releases the library's object now (otherwise when this one is collected)."""
        h, self._h = self._h, None
        if h and _loaded is not None:  # at interpreter shutdown the library may be gone
            getattr(_loaded, self._destroy)(h)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def candidates() -> List[str]:
    """The places where libfacet is looked for, in order (see the module's docstring)."""
    out = []
    env = os.environ.get("FACET_LIB")
    if env:
        out.append(env)
        return out  # an override that fails must say so, never fall back silently
    bundled = os.path.join(_here, "libfacet.so")
    if os.path.exists(bundled):
        out.append(bundled)
    try:
        from . import _buildinfo  # written by the build backend; absent in a source checkout
        if _buildinfo.LIBFACET:
            out.append(_buildinfo.LIBFACET)
    except ImportError:
        pass
    checkout = os.path.join(os.path.dirname(os.path.dirname(_here)), "..", "build", "libfacet.so")
    if os.path.exists(checkout):
        out.append(os.path.normpath(checkout))
    found = ctypes.util.find_library("facet")
    if found:
        out.append(found)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    global _free
    for name, (res, args) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _free = lib.facet_free  # the library's heap need not be this process's libc's
    _free.restype = None
    _free.argtypes = [c_void_p]


def lib() -> ctypes.CDLL:
    """The loaded library (loading it on the first call); LibraryNotFound if it cannot be."""
    global _loaded, _loaded_path
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        tried = []
        for path in candidates():
            try:
                handle = ctypes.CDLL(path)
                _declare(handle)
            except (OSError, AttributeError) as e:  # AttributeError: a library without our symbols
                tried.append("%s (%s)" % (path, e))
                continue
            _loaded, _loaded_path = handle, path
            return handle
        raise LibraryNotFound("libfacet not found; tried: %s. Install it (meson install -C build, or the "
                              "libfacet0 package), or set FACET_LIB to the path of libfacet.so"
                              % ("; ".join(tried) if tried else "nothing (no candidate exists)"))


def library_path() -> str:
    """The path of the libfacet that was loaded (loads it if needed)."""
    lib()
    assert _loaded_path is not None
    return _loaded_path


def free(ptr) -> None:
    """Releases memory the library handed out (facet_free)."""
    lib()
    assert _free is not None
    _free(ctypes.cast(ptr, c_void_p))


def last_error(status: int) -> str:
    L = lib()
    msg = L.facet_last_error()
    text = msg.decode("utf-8", "replace") if msg else ""
    return text or L.facet_status_str(status).decode()


def check(status: int, context: str = "") -> None:
    """Raises the Error subclass for a failed facet_status, with libfacet's message."""
    if status != 0:
        msg = last_error(status)
        raise _error_for(status)(status, "%s: %s" % (context, msg) if context else msg)


def enc(s: str, what: str) -> bytes:
    """A str argument as UTF-8 bytes for C; NUL bytes would silently cut the string there."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    b = s.encode("utf-8")
    if b"\0" in b:
        raise Error(Status.INVALID_ARG, "%s contains a NUL byte" % what)
    return b
