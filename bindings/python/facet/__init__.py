"""facet for Python: face detection, landmarks, faceprints, comparison, quality, attributes and
collections with 1:N search, over libfacet (ctypes, no compiled extension), plus a client for
facetd's HTTP API (facet.Client, standard library only).

    import facet
    sdk = facet.SDK()                                  # models from $FACET_MODEL_PATH or ./models
    faces = sdk.detect("photo.jpg")                    # [Face(box, score, landmarks), ...]
    a, b = sdk.faceprint("a.jpg"), sdk.faceprint("b.jpg")
    similarity, probability = facet.compare(a, b)
    img = facet.Image.from_array(frame, "bgr")         # an OpenCV frame: say the channel order
    with facet.Gallery("sqlite:faces.db") as g:
        g.enroll("people", "ada", a)
        g.identify("people", b, k=3)                   # [Match(identity, uuid, similarity, ...)]

libfacet is loaded on first use; see facet.library_path() and the FACET_LIB override. Every
failure raises a subclass of facet.Error carrying libfacet's status and message.
"""
from __future__ import annotations

from ._lib import LibraryNotFound, library_path
from ._version import __version__
from .client import Client
from .errors import (ApiError, Error, Exists, FormatError, InternalError, InvalidArgument, IOFailure,
                     LimitExceeded, ModelError, NoMemory, NotFound, Status, StoreError, Unsupported)
from .gallery import CollectionInfo, Gallery, Match
from .image import Image
from .sdk import (AGE, ALL_MODULES, DETECT, EXPRESSION, EXPRESSIONS, EYE, FEATURE, GENDER, LANDMARK, LIVENESS,
                  POSE, QUALITY_ALL, QUALITY_EYES, QUALITY_LIVENESS, QUALITY_POSE, SDK, Attributes, Face,
                  Faceprint, Quality, compare, match_probability, match_threshold)

__all__ = [
    "SDK", "Image", "Face", "Faceprint", "Quality", "Attributes", "Gallery", "Match", "CollectionInfo",
    "Client", "compare", "match_probability", "match_threshold", "version", "cpu_features", "library_path",
    "Error", "ApiError", "Status", "InvalidArgument", "NoMemory", "IOFailure", "FormatError", "Unsupported",
    "ModelError", "NotFound", "Exists", "LimitExceeded", "StoreError", "InternalError", "LibraryNotFound",
    "DETECT", "LANDMARK", "FEATURE", "LIVENESS", "POSE", "EYE", "AGE", "GENDER", "EXPRESSION", "ALL_MODULES",
    "QUALITY_POSE", "QUALITY_EYES", "QUALITY_LIVENESS", "QUALITY_ALL", "EXPRESSIONS", "__version__",
]


def version() -> str:
    """libfacet's version, "MAJOR.MINOR.PATCH" (facet.__version__ is this package's)."""
    from . import _lib

    return _lib.lib().facet_version().decode()


def cpu_features() -> str:
    """The SIMD features libfacet uses on this CPU, e.g. "avx2 fma f16c avx512f"."""
    from . import _lib

    return _lib.lib().facet_cpu_features().decode()
