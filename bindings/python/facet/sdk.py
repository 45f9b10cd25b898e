"""The face SDK: detection, landmarks, alignment, faceprints, comparison, quality, attributes.

Thin classes over include/facet/face.h. Results are plain Python values (dataclasses, lists,
floats) except Face and Faceprint, which keep their C struct so that they can go back into the
library without a conversion that could lose precision.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._lib import FACEPRINT_DIM, FaceprintT, FaceT, check, enc
from .errors import NotFound, Status
from .image import Image, ImageInput, as_image

if TYPE_CHECKING:  # pragma: no cover
    import numpy

# facet_module bits (include/facet/face.h), for SDK(preload=...)
DETECT, LANDMARK, FEATURE, LIVENESS, POSE, EYE, AGE, GENDER, EXPRESSION = (1 << i for i in range(9))
ALL_MODULES = (1 << 9) - 1
# facet_face_quality's `what` bits
QUALITY_POSE, QUALITY_EYES, QUALITY_LIVENESS, QUALITY_ALL = 1, 2, 4, 7
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_BACKENDS = {"auto": 0, "ref": 1, "xnnpack": 2}


class Face:
    """A detected face.

    box: (x, y, w, h) in image pixels; score: detector confidence 0..1; keypoints: five (x, y)
    points (image-left eye, image-right eye, nose, mouth left, mouth right); landmarks: the 68
    iBUG points (empty if the face has none).
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: FaceT):
        self._raw = raw

    @classmethod
    def from_box(cls, x: float, y: float, w: float, h: float, score: float = 1.0) -> "Face":
        """A face from a box found elsewhere; SDK.landmarks() fills in its points."""
        raw = FaceT()
        raw.x, raw.y, raw.w, raw.h, raw.score = x, y, w, h, score
        return cls(raw)

    @property
    def box(self) -> Tuple[float, float, float, float]:
        r = self._raw
        return (r.x, r.y, r.w, r.h)

    @property
    def score(self) -> float:
        return self._raw.score

    @property
    def keypoints(self) -> List[Tuple[float, float]]:
        return [(p.x, p.y) for p in self._raw.kps] if self._raw.has_landmarks else []

    @property
    def landmarks(self) -> List[Tuple[float, float]]:
        return [(p.x, p.y) for p in self._raw.landmarks] if self._raw.has_landmarks else []

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly form: box, score, keypoints, landmarks."""
        return {"box": list(self.box), "score": self.score, "keypoints": [list(p) for p in self.keypoints],
                "landmarks": [list(p) for p in self.landmarks]}

    def __repr__(self) -> str:
        return "Face(box=(%.0f, %.0f, %.0f, %.0f), score=%.3f)" % (self.box + (self.score,))


class Faceprint:
    """A 512-d L2-normalised faceprint and the id of the model that made it
    (e.g. "fr_feature@87aacdfe"). Faceprints of different models cannot be compared."""

    __slots__ = ("_raw",)

    def __init__(self, raw: FaceprintT):
        self._raw = raw

    @property
    def model(self) -> str:
        return self._raw.model.decode()

    @property
    def dim(self) -> int:
        return int(self._raw.dim)

    @property
    def vector(self) -> List[float]:
        """The values as a list of floats."""
        return list(self._raw.v[: self._raw.dim])

    def to_array(self) -> "numpy.ndarray":
        """The values as a float32 numpy array (a copy)."""
        import numpy as np

        return np.array(self._raw.v[: self._raw.dim], dtype=np.float32)

    @classmethod
    def from_vector(cls, model: str, values: Sequence[float]) -> "Faceprint":
        """A faceprint from its values (e.g. read from your own database). They must be
        L2-normalised; compare() and the gallery check the model id."""
        n = len(values)
        if not 1 <= n <= FACEPRINT_DIM:
            raise ValueError("a faceprint has 1..%d values, got %d" % (FACEPRINT_DIM, n))
        m = enc(model, "model")
        if len(m) >= _lib.MODEL_MAX:
            raise ValueError("model id longer than %d bytes" % (_lib.MODEL_MAX - 1))
        raw = FaceprintT()
        raw.model, raw.dim = m, n
        for i, v in enumerate(values):
            raw.v[i] = float(v)
        return cls(raw)

    def to_bytes(self, fp16: bool = False) -> bytes:
        """The binary form ("FPRT" header, model id, values; fp16 halves the size and moves
        similarities by at most 0.001)."""
        data = ctypes.POINTER(ctypes.c_uint8)()
        size = ctypes.c_size_t()
        check(_lib.lib().facet_faceprint_serialize(ctypes.byref(self._raw), int(fp16), ctypes.byref(data),
                                                   ctypes.byref(size)))
        try:
            return ctypes.string_at(data, size.value)
        finally:
            _lib.free(data)

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> "Faceprint":
        """Parses the binary form; corrupt data raises FormatError."""
        buf = bytes(data)
        raw = FaceprintT()
        check(_lib.lib().facet_faceprint_deserialize(buf, len(buf), ctypes.byref(raw)))
        return cls(raw)

    def to_json(self, fp16: bool = False) -> str:
        """The JSON form {"model", "dim", "dtype", "data": base64}, as facetd speaks it."""
        out = ctypes.c_void_p()
        check(_lib.lib().facet_faceprint_to_json(ctypes.byref(self._raw), int(fp16), ctypes.byref(out)))
        try:
            return ctypes.string_at(out).decode()
        finally:
            _lib.free(out)

    @classmethod
    def from_json(cls, text: str) -> "Faceprint":
        """Parses the JSON form; malformed JSON raises FormatError."""
        raw = FaceprintT()
        check(_lib.lib().facet_faceprint_from_json(enc(text, "json"), ctypes.byref(raw)))
        return cls(raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Faceprint) and self.model == other.model and self.vector == other.vector

    __hash__ = None  # type: ignore[assignment]  # mutable values, like a list

    def __repr__(self) -> str:
        return "Faceprint(model=%r, dim=%d)" % (self.model, self.dim)


@dataclass
class Quality:
    """Quality verdicts for one face. Pose, eyes and liveness are None when not computed."""

    blur: str                  # "good" or "blurry"
    blur_score: float          # sharpness; higher is sharper
    exposure: str              # "good", "over" or "under"
    exposure_score: float      # share of well-exposed face pixels, 0..1
    face_height: float         # pixels
    yaw: Optional[float] = None    # radians
    pitch: Optional[float] = None
    roll: Optional[float] = None
    left_eye_open: Optional[bool] = None
    right_eye_open: Optional[bool] = None
    left_eye_score: Optional[float] = None   # probability the eye is open
    right_eye_score: Optional[float] = None
    is_live: Optional[bool] = None
    liveness_score: Optional[float] = None   # probability of a real face

    @classmethod
    def _from(cls, q: _lib.QualityT) -> "Quality":
        out = cls(blur="blurry" if q.blur else "good", blur_score=q.blur_score,
                  exposure=("good", "over", "under")[q.exposure], exposure_score=q.exposure_score,
                  face_height=q.face_height)
        if q.has_pose:
            out.yaw, out.pitch, out.roll = q.yaw, q.pitch, q.roll
        if q.has_eyes:
            out.left_eye_open, out.right_eye_open = bool(q.left_eye_open), bool(q.right_eye_open)
            out.left_eye_score, out.right_eye_score = q.left_eye_score, q.right_eye_score
        if q.has_liveness:
            out.is_live, out.liveness_score = bool(q.is_live), q.liveness_score
        return out


@dataclass
class Attributes:
    """Estimated age, gender and expression of one face."""

    age: float                 # years
    gender: str                # "female" or "male"
    gender_score: float        # probability of that gender
    expression: str            # one of EXPRESSIONS
    expression_scores: Dict[str, float] = field(default_factory=dict)  # name -> probability


def compare(a: Faceprint, b: Faceprint) -> Tuple[float, float]:
    """(similarity, match probability): cosine similarity in -1..1 and the fitted probability
    that both faceprints show the same person. Different models raise ModelError."""
    sim, prob = ctypes.c_float(), ctypes.c_float()
    check(_lib.lib().facet_compare(ctypes.byref(a._raw), ctypes.byref(b._raw), ctypes.byref(sim),
                                   ctypes.byref(prob)))
    return sim.value, prob.value


def match_probability(similarity: float) -> float:
    """The fitted probability that two faceprints with this similarity are the same person."""
    return float(_lib.lib().facet_match_probability(float(similarity)))


def match_threshold() -> float:
    """The similarity at which facet calls two faceprints the same person."""
    return float(_lib.lib().facet_match_threshold())


class SDK(_lib.Owned):
    """The face SDK: loads the models (lazily, or those named in `preload` at once) and runs
    them. One SDK may be used by many threads at once (ctypes releases the GIL).

    model_dir: the folder with the nine ONNX models (default $FACET_MODEL_PATH, else ./models).
    threads: threads per inference (0: $FACET_NUM_THREADS, else all cores).
    backend: "auto", "xnnpack" or "ref". The detection settings default to the library's;
    boxes_only=True makes detect() skip landmarks (then SDK.landmarks() per face when needed).
    """

    _destroy = "facet_sdk_destroy"

    def __init__(self, model_dir: Optional[Union[str, "os.PathLike[str]"]] = None, threads: int = 0,
                 preload: int = 0, backend: str = "auto", detect_threshold: Optional[float] = None,
                 nms_threshold: Optional[float] = None, smallest_face: Optional[int] = None,
                 passes: Optional[int] = None, verify: Optional[bool] = None, max_pixels: Optional[int] = None,
                 boxes_only: bool = False):
        L = _lib.lib()
        self._h = ctypes.c_void_p()
        s = _lib.SdkSettings()
        L.facet_sdk_defaults(ctypes.byref(s))
        self._dir = os.fsencode(model_dir) if model_dir is not None else None  # kept alive for the call
        s.model_dir = self._dir
        s.num_threads = int(threads)
        s.preload = int(preload)
        if backend not in _BACKENDS:
            raise ValueError("backend must be one of %s, got %r" % (", ".join(_BACKENDS), backend))
        s.backend = _BACKENDS[backend]
        for name, value in (("detect_threshold", detect_threshold), ("nms_threshold", nms_threshold),
                            ("smallest_face_height", smallest_face), ("detect_passes", passes),
                            ("detect_verify", None if verify is None else int(verify)),
                            ("max_pixels", max_pixels), ("boxes_only", int(boxes_only))):
            if value is not None:
                setattr(s, name, value)
        check(L.facet_sdk_create(ctypes.byref(s), ctypes.byref(self._h)))


    @property
    def faceprint_model(self) -> str:
        """The model id this SDK's faceprints carry (loads the feature model if needed)."""
        buf = (ctypes.c_char * _lib.MODEL_MAX)()
        check(_lib.lib().facet_sdk_faceprint_model(self._handle(), buf))
        return buf.value.decode()

    def load(self, modules: int = ALL_MODULES) -> None:
        """Loads the given modules (facet.DETECT | facet.FEATURE ...) now instead of on first use."""
        check(_lib.lib().facet_sdk_load(self._handle(), int(modules)))

    def _detect(self, img: Image) -> List[FaceT]:
        faces = ctypes.POINTER(FaceT)()
        n = ctypes.c_int()
        check(_lib.lib().facet_detect_faces(self._handle(), img._handle(), ctypes.byref(faces), ctypes.byref(n)))
        try:
            return [FaceT.from_buffer_copy(faces[i]) for i in range(n.value)]
        finally:
            _lib.free(faces)

    def detect(self, image: ImageInput) -> List[Face]:
        """Every face in the image, best score first, with landmarks and key points."""
        return [Face(f) for f in self._detect(as_image(image))]

    def largest_face(self, image: ImageInput) -> Face:
        """The face with the largest box; NotFound when there is none."""
        raw = FaceT()
        img = as_image(image)  # a local keeps a decoded temporary alive during the call
        check(_lib.lib().facet_detect_largest_face(self._handle(), img._handle(), ctypes.byref(raw)))
        return Face(raw)

    def landmarks(self, image: ImageInput, face: Face) -> Face:
        """A copy of `face` with its 68 landmarks and key points recomputed from its box."""
        raw = FaceT.from_buffer_copy(face._raw)
        img = as_image(image)
        check(_lib.lib().facet_face_landmarks(self._handle(), img._handle(), ctypes.byref(raw)))
        return Face(raw)

    def align(self, image: ImageInput, face: Face) -> Image:
        """The face aligned to the 112x112 RGB chip that faceprints are computed from."""
        chip = ctypes.POINTER(_lib.ImageT)()
        img = as_image(image)
        check(_lib.lib().facet_extract_aligned_face(self._handle(), img._handle(), ctypes.byref(face._raw),
                                                    ctypes.byref(chip)))
        return Image(chip)

    def _extract(self, img: Image, face: FaceT) -> Faceprint:
        fp = FaceprintT()
        check(_lib.lib().facet_faceprint_extract(self._handle(), img._handle(), ctypes.byref(face), ctypes.byref(fp)))
        return Faceprint(fp)

    def faceprint(self, image: ImageInput, face: Optional[Face] = None) -> Faceprint:
        """The faceprint of `face`, or of the image's largest face; NotFound if it has none."""
        img = as_image(image)
        if face is None:
            raw = FaceT()
            rc = _lib.lib().facet_detect_largest_face(self._handle(), img._handle(), ctypes.byref(raw))
            if rc == Status.NOT_FOUND:
                where = " in %s" % os.fspath(image) if isinstance(image, (str, os.PathLike)) else ""
                raise NotFound(rc, "no face found%s" % where)
            check(rc)
            face = Face(raw)
        return self._extract(img, face._raw)

    def faceprints(self, image: ImageInput) -> List[Tuple[Face, Faceprint]]:
        """(Face, Faceprint) for every face in the image, best score first."""
        img = as_image(image)
        return [(Face(f), self._extract(img, f)) for f in self._detect(img)]

    def faceprint_from_chip(self, chip: Image) -> Faceprint:
        """The faceprint of an already aligned 112x112 chip (see align)."""
        fp = FaceprintT()
        img = as_image(chip)
        check(_lib.lib().facet_faceprint_from_chip(self._handle(), img._handle(), ctypes.byref(fp)))
        return Faceprint(fp)

    def quality(self, image: ImageInput, face: Face, what: int = QUALITY_ALL) -> Quality:
        """Blur, exposure and size always; pose, eyes and liveness as chosen by `what`
        (QUALITY_POSE | QUALITY_EYES | QUALITY_LIVENESS)."""
        q = _lib.QualityT()
        img = as_image(image)
        check(_lib.lib().facet_face_quality(self._handle(), img._handle(), ctypes.byref(face._raw),
                                            int(what), ctypes.byref(q)))
        return Quality._from(q)

    def attributes(self, image: ImageInput, face: Face) -> Attributes:
        """Estimated age, gender and expression."""
        a = _lib.AttributesT()
        L = _lib.lib()
        img = as_image(image)
        check(L.facet_face_attributes(self._handle(), img._handle(), ctypes.byref(face._raw), ctypes.byref(a)))
        names = [L.facet_expression_name(i).decode() for i in range(len(EXPRESSIONS))]
        return Attributes(age=a.age, gender="male" if a.gender else "female", gender_score=a.gender_score,
                          expression=L.facet_expression_name(a.expression).decode(),
                          expression_scores=dict(zip(names, a.expression_scores)))

    def analyze(self, image: ImageInput) -> List[Tuple[Face, Quality, Attributes]]:
        """Every face with its quality (all checks) and attributes."""
        img = as_image(image)
        return [(f, self.quality(img, f), self.attributes(img, f)) for f in self.detect(img)]
