"""Python bindings for libfacet (ctypes; no compiled extension, no dependencies).

    import facet
    sdk = facet.SDK()                                   # models from $FACET_MODEL_PATH or ./models
    faces = sdk.detect("photo.jpg")                     # [Face(box, score, landmarks), ...]
    fp = sdk.faceprint("photo.jpg")                     # largest face -> Faceprint
    sim, prob = facet.compare(fp, sdk.faceprint("other.jpg"))
    q, a = sdk.analyze("photo.jpg")[0]                  # quality and attributes dicts
    g = facet.Gallery("sqlite:facet.db")
    g.enroll("people", "obama", fp)                     # creates the collection on first use
    g.identify("people", fp, k=3)                       # [(identity, uuid, similarity, probability)]

The library is found through $FACET_LIB, then next to this package's build tree, then the
system's dynamic loader (libfacet.so). Errors raise facet.Error with libfacet's message.
"""
import ctypes
import ctypes.util
import os

__all__ = ["Error", "SDK", "Gallery", "Face", "Faceprint", "compare", "version"]

FACEPRINT_DIM = 512
_MODEL_MAX = 40
_UUID_SIZE = 37
_IDENTITY_MAX = 255


def _load():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("FACET_LIB", "")]
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    candidates.append(os.path.join(root, "build", "libfacet.so"))
    candidates.append(ctypes.util.find_library("facet") or "")
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.sep in c):
            try:
                return ctypes.CDLL(c)
            except OSError:
                pass
    raise ImportError("libfacet.so not found: build facet or set FACET_LIB")


_lib = _load()


class Error(Exception):
    """A libfacet call failed; .status is its facet_status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float)]


class _Face(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("w", ctypes.c_float), ("h", ctypes.c_float),
                ("score", ctypes.c_float), ("kps", _Point * 5), ("landmarks", _Point * 68),
                ("has_landmarks", ctypes.c_int)]


class _Faceprint(ctypes.Structure):
    _fields_ = [("model", ctypes.c_char * _MODEL_MAX), ("dim", ctypes.c_int),
                ("v", ctypes.c_float * FACEPRINT_DIM)]


class _Image(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("channels", ctypes.c_int),
                ("stride", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_uint8))]


class _Settings(ctypes.Structure):
    _fields_ = [("model_dir", ctypes.c_char_p), ("num_threads", ctypes.c_int), ("preload", ctypes.c_uint),
                ("backend", ctypes.c_int), ("detect_threshold", ctypes.c_float), ("nms_threshold", ctypes.c_float),
                ("smallest_face_height", ctypes.c_int), ("detect_passes", ctypes.c_int),
                ("max_pixels", ctypes.c_int64), ("detect_verify", ctypes.c_int),
                ("allow_corrupt", ctypes.c_int), ("boxes_only", ctypes.c_int)]


class _Quality(ctypes.Structure):
    _fields_ = [("blur", ctypes.c_int), ("blur_score", ctypes.c_float), ("exposure", ctypes.c_int),
                ("exposure_score", ctypes.c_float), ("face_height", ctypes.c_float), ("has_pose", ctypes.c_int),
                ("yaw", ctypes.c_float), ("pitch", ctypes.c_float), ("roll", ctypes.c_float),
                ("has_eyes", ctypes.c_int), ("left_eye_open", ctypes.c_int), ("right_eye_open", ctypes.c_int),
                ("left_eye_score", ctypes.c_float), ("right_eye_score", ctypes.c_float),
                ("has_liveness", ctypes.c_int), ("is_live", ctypes.c_int), ("liveness_score", ctypes.c_float)]


class _Attributes(ctypes.Structure):
    _fields_ = [("age", ctypes.c_float), ("gender", ctypes.c_int), ("gender_score", ctypes.c_float),
                ("expression", ctypes.c_int), ("expression_scores", ctypes.c_float * 7)]


class _GallerySettings(ctypes.Structure):
    _fields_ = [("threads", ctypes.c_int), ("match_a", ctypes.c_float), ("match_b", ctypes.c_float),
                ("follow", ctypes.c_int), ("follow_interval_ms", ctypes.c_int),
                ("change_keep_s", ctypes.c_int), ("must_exist", ctypes.c_int)]


class _CollectionSettings(ctypes.Structure):
    _fields_ = [("model_id", ctypes.c_char_p), ("dim", ctypes.c_int), ("dtype", ctypes.c_int),
                ("keep_payload", ctypes.c_int)]


class _Match(ctypes.Structure):
    _fields_ = [("identity", ctypes.c_char * (_IDENTITY_MAX + 1)), ("uuid", ctypes.c_char * _UUID_SIZE),
                ("similarity", ctypes.c_float), ("probability", ctypes.c_float)]


_P = ctypes.POINTER
_lib.facet_version.restype = ctypes.c_char_p
_lib.facet_last_error.restype = ctypes.c_char_p
_lib.facet_match_probability.restype = ctypes.c_float
_lib.facet_match_threshold.restype = ctypes.c_float
_lib.facet_gallery_errmsg.restype = ctypes.c_char_p
_lib.facet_gallery_errmsg.argtypes = [ctypes.c_void_p]
_lib.facet_sdk_create.argtypes = [_P(_Settings), _P(ctypes.c_void_p)]
_lib.facet_sdk_destroy.argtypes = [ctypes.c_void_p]
_lib.facet_image_decode_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p, _P(_P(_Image))]
_lib.facet_image_destroy.argtypes = [_P(_Image)]
_lib.facet_detect_faces.argtypes = [ctypes.c_void_p, _P(_Image), _P(_P(_Face)), _P(ctypes.c_int)]
_lib.facet_faceprint_extract.argtypes = [ctypes.c_void_p, _P(_Image), _P(_Face), _P(_Faceprint)]
_lib.facet_compare.argtypes = [_P(_Faceprint), _P(_Faceprint), _P(ctypes.c_float), _P(ctypes.c_float)]
_lib.facet_face_quality.argtypes = [ctypes.c_void_p, _P(_Image), _P(_Face), ctypes.c_uint, _P(_Quality)]
_lib.facet_face_attributes.argtypes = [ctypes.c_void_p, _P(_Image), _P(_Face), _P(_Attributes)]
_lib.facet_expression_name.restype = ctypes.c_char_p
_lib.facet_faceprint_serialize.argtypes = [_P(_Faceprint), ctypes.c_int, _P(_P(ctypes.c_uint8)),
                                           _P(ctypes.c_size_t)]
_lib.facet_faceprint_deserialize.argtypes = [ctypes.c_char_p, ctypes.c_size_t, _P(_Faceprint)]
_lib.facet_match_model.argtypes = [_P(ctypes.c_float), _P(ctypes.c_float)]
_lib.facet_gallery_open.argtypes = [ctypes.c_char_p, _P(_GallerySettings), _P(ctypes.c_void_p)]
_lib.facet_gallery_destroy.argtypes = [ctypes.c_void_p]
_lib.facet_collection_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_lib.facet_collection_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _P(_CollectionSettings)]
_lib.facet_gallery_enroll.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _P(ctypes.c_float),
                                      ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.c_char * _UUID_SIZE]
_lib.facet_gallery_identify_top_k.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, _P(ctypes.c_float),
                                              ctypes.c_int, ctypes.c_int, _P(_Match), _P(ctypes.c_int)]
_lib.facet_gallery_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _P(ctypes.c_size_t)]
# what the library allocates goes back to the library (its heap need not be this process's libc)
_lib.facet_free.argtypes = [ctypes.c_void_p]
_lib.facet_free.restype = None


def _check(status, message=None):
    if status != 0:
        msg = message() if callable(message) else None
        raise Error(status, msg or _lib.facet_last_error().decode(errors="replace"))


def version():
    return _lib.facet_version().decode()


class Face:
    """A detected face: box (x, y, w, h) in pixels, score, five key points, 68 landmarks."""

    def __init__(self, raw):
        self._raw = raw
        self.box = (raw.x, raw.y, raw.w, raw.h)
        self.score = raw.score
        self.keypoints = [(p.x, p.y) for p in raw.kps]
        self.landmarks = [(p.x, p.y) for p in raw.landmarks]

    def __repr__(self):
        return "Face(box=(%.0f, %.0f, %.0f, %.0f), score=%.3f)" % (self.box + (self.score,))


class Faceprint:
    """A 512-d L2-normalised faceprint and the id of the model that made it."""

    def __init__(self, raw):
        self._raw = raw
        self.model = raw.model.decode()
        self.vector = list(raw.v[: raw.dim])

    def to_bytes(self, fp16=False):
        data = _P(ctypes.c_uint8)()
        size = ctypes.c_size_t()
        _check(_lib.facet_faceprint_serialize(ctypes.byref(self._raw), int(fp16), ctypes.byref(data),
                                              ctypes.byref(size)))
        out = ctypes.string_at(data, size.value)
        _lib.facet_free(data)
        return out

    @staticmethod
    def from_bytes(data):
        raw = _Faceprint()
        _check(_lib.facet_faceprint_deserialize(data, len(data), ctypes.byref(raw)))
        return Faceprint(raw)


def compare(a, b):
    """(similarity in -1..1, match probability in 0..1); different models raise Error."""
    sim, prob = ctypes.c_float(), ctypes.c_float()
    _check(_lib.facet_compare(ctypes.byref(a._raw), ctypes.byref(b._raw), ctypes.byref(sim), ctypes.byref(prob)))
    return sim.value, prob.value


def match_threshold():
    return _lib.facet_match_threshold()


class _Decoded:
    """A decoded image for the length of a with-block."""

    def __init__(self, path):
        self.ptr = _P(_Image)()
        _check(_lib.facet_image_decode_file(os.fsencode(path), None, ctypes.byref(self.ptr)))

    def __enter__(self):
        return self.ptr

    def __exit__(self, *exc):
        _lib.facet_image_destroy(self.ptr)


class SDK:
    """The face SDK. Thread-safe: one instance may serve many threads."""

    def __init__(self, model_dir=None, threads=0, detect_threshold=None, smallest_face=None, passes=None,
                 verify=None):
        s = _Settings()
        _lib.facet_sdk_defaults(ctypes.byref(s))
        self._dir = os.fsencode(model_dir) if model_dir else None
        s.model_dir = self._dir
        s.num_threads = threads
        if detect_threshold is not None:
            s.detect_threshold = detect_threshold
        if smallest_face is not None:
            s.smallest_face_height = smallest_face
        if passes is not None:
            s.detect_passes = passes
        if verify is not None:
            s.detect_verify = int(verify)
        self._h = ctypes.c_void_p()
        _check(_lib.facet_sdk_create(ctypes.byref(s), ctypes.byref(self._h)))

    def close(self):
        if self._h:
            _lib.facet_sdk_destroy(self._h)
            self._h = ctypes.c_void_p()

    __del__ = close

    def _detect(self, img):
        faces = _P(_Face)()
        n = ctypes.c_int()
        _check(_lib.facet_detect_faces(self._h, img, ctypes.byref(faces), ctypes.byref(n)))
        out = [_Face.from_buffer_copy(faces[i]) for i in range(n.value)]
        _lib.facet_free(faces)
        return out

    def detect(self, path):
        """Every face in the image at `path`, best score first."""
        with _Decoded(path) as img:
            return [Face(f) for f in self._detect(img)]

    def faceprints(self, path):
        """[(Face, Faceprint)] for every face in the image."""
        with _Decoded(path) as img:
            out = []
            for f in self._detect(img):
                fp = _Faceprint()
                _check(_lib.facet_faceprint_extract(self._h, img, ctypes.byref(f), ctypes.byref(fp)))
                out.append((Face(f), Faceprint(fp)))
            return out

    def faceprint(self, path):
        """The faceprint of the largest face; Error if there is none."""
        all_ = self.faceprints(path)
        if not all_:
            raise Error(-7, "%s: no face found" % path)
        return max(all_, key=lambda t: t[0].box[2] * t[0].box[3])[1]

    def analyze(self, path):
        """[(quality dict, attributes dict)] for every face."""
        with _Decoded(path) as img:
            out = []
            for f in self._detect(img):
                q, a = _Quality(), _Attributes()
                _check(_lib.facet_face_quality(self._h, img, ctypes.byref(f), 7, ctypes.byref(q)))
                _check(_lib.facet_face_attributes(self._h, img, ctypes.byref(f), ctypes.byref(a)))
                qd = {k: getattr(q, k) for k, _ in _Quality._fields_}
                qd["blur"] = "blurry" if q.blur else "good"
                qd["exposure"] = ("good", "over", "under")[q.exposure]
                ad = {"age": a.age, "gender": "male" if a.gender else "female", "gender_score": a.gender_score,
                      "expression": _lib.facet_expression_name(a.expression).decode(),
                      "expression_scores": list(a.expression_scores)}
                out.append((qd, ad))
            return out


class Gallery:
    """Collections of faceprints in a store: "memory:", "sqlite:PATH" or a PostgreSQL URL."""

    def __init__(self, url="sqlite:facet.db"):
        gs = _GallerySettings()
        _lib.facet_gallery_defaults(ctypes.byref(gs))  # the match mapping is facet_compare's
        self._h = ctypes.c_void_p()
        _check(_lib.facet_gallery_open(os.fsencode(url), ctypes.byref(gs), ctypes.byref(self._h)))

    def close(self):
        if self._h:
            _lib.facet_gallery_destroy(self._h)
            self._h = ctypes.c_void_p()

    __del__ = close

    def _err(self):
        return _lib.facet_gallery_errmsg(self._h).decode(errors="replace")

    def _ensure(self, collection, fp):
        if _lib.facet_collection_load(self._h, collection.encode(), None) == 0:
            return
        cs = _CollectionSettings()
        _lib.facet_collection_defaults(ctypes.byref(cs))
        cs.model_id = fp.model.encode()
        cs.dim = len(fp.vector)
        _check(_lib.facet_collection_create(self._h, collection.encode(), ctypes.byref(cs)), self._err)

    def enroll(self, collection, identity, fp):
        """Adds a faceprint; returns its UUID. Creates the collection on first use."""
        self._ensure(collection, fp)
        uuid = (ctypes.c_char * _UUID_SIZE)()
        _check(_lib.facet_gallery_enroll(self._h, collection.encode(), fp._raw.model, fp._raw.v, fp._raw.dim,
                                         identity.encode(), None, 0, uuid), self._err)
        return uuid.value.decode()

    def count(self, collection):
        n = ctypes.c_size_t()
        _check(_lib.facet_collection_load(self._h, collection.encode(), None), self._err)
        _check(_lib.facet_gallery_count(self._h, collection.encode(), ctypes.byref(n)), self._err)
        return n.value

    def identify(self, collection, fp, k=1):
        """The k best matches: [(identity, uuid, similarity, probability)], best first."""
        _check(_lib.facet_collection_load(self._h, collection.encode(), None), self._err)
        out = (_Match * k)()
        n = ctypes.c_int()
        _check(_lib.facet_gallery_identify_top_k(self._h, collection.encode(), fp._raw.model, fp._raw.v,
                                                 fp._raw.dim, k, out, ctypes.byref(n)), self._err)
        return [(m.identity.decode(), m.uuid.decode(), m.similarity, m.probability) for m in out[: n.value]]
