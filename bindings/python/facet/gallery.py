"""Collections of faceprints in a store, and exact 1:N search (include/facet/gallery.h).

A Gallery is one connection to "memory:", "sqlite:PATH" or a PostgreSQL URL. Collections are
loaded into memory on first use by this class (the C API asks the caller to load them), so a
script can enrol and identify without knowing about loading.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._lib import CollectionInfoT, MatchT, UuidBuf, check, enc
from .errors import Error, ModelError, Status
from .sdk import Faceprint


@dataclass(frozen=True)
class Match:
    """One search result: the enrolled face's identity and UUID, its similarity to the probe
    (-1..1) and the match probability."""

    identity: str
    uuid: str
    similarity: float
    probability: float


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the store describes it; `count` is known only when it is loaded."""

    name: str
    model: str
    dim: int
    dtype: str        # "f32" or "f16" (in memory; the store keeps fp32)
    keep_payload: bool
    loaded: bool
    count: int
    created_ms: int   # unix time in milliseconds

    @classmethod
    def _from(cls, c: CollectionInfoT) -> "CollectionInfo":
        return cls(name=c.name.decode(), model=c.model_id.decode(), dim=c.dim, dtype=("f32", "f16")[c.dtype],
                   keep_payload=bool(c.keep_payload), loaded=bool(c.loaded), count=c.count, created_ms=c.created)


_DTYPES = {"f32": 0, "f16": 1}


class Gallery(_lib.Owned):
    """Collections of faceprints in a store: "memory:", "sqlite:PATH" or PostgreSQL
    ("postgres://..." or a libpq keyword string). One Gallery may be shared by many threads.
    Enrolments are durable when enroll() returns."""

    _destroy = "facet_gallery_destroy"

    def __init__(self, url: str = "sqlite:facet.db", threads: int = 0):
        L = _lib.lib()
        gs = _lib.GallerySettings()
        L.facet_gallery_defaults(ctypes.byref(gs))
        gs.threads = int(threads)
        a, b = ctypes.c_float(), ctypes.c_float()
        L.facet_match_model(ctypes.byref(a), ctypes.byref(b))  # the same mapping as facet.compare
        gs.match_a, gs.match_b = a.value, b.value
        self._h = ctypes.c_void_p()
        check(L.facet_gallery_open(enc(url, "url"), ctypes.byref(gs), ctypes.byref(self._h)))

    # ---- collections ----

    def create_collection(self, name: str, model: str, dim: int = _lib.FACEPRINT_DIM, dtype: str = "f32",
                          keep_payload: bool = False) -> CollectionInfo:
        """Creates an empty collection bound to one faceprint model id (SDK.faceprint_model).
        Exists if the name is taken; names are 1..127 characters of [A-Za-z0-9_.-]."""
        if dtype not in _DTYPES:
            raise ValueError("dtype must be 'f32' or 'f16', got %r" % (dtype,))
        cs = _lib.CollectionSettings()
        L = _lib.lib()
        L.facet_collection_defaults(ctypes.byref(cs))
        model_b = enc(model, "model")
        cs.model_id, cs.dim, cs.dtype, cs.keep_payload = model_b, int(dim), _DTYPES[dtype], int(keep_payload)
        check(L.facet_collection_create(self._handle(), enc(name, "collection"), ctypes.byref(cs)))
        return self.collection(name)

    def collections(self) -> List[CollectionInfo]:
        """Every collection in the store, sorted by name."""
        arr = ctypes.POINTER(CollectionInfoT)()
        n = ctypes.c_size_t()
        check(_lib.lib().facet_collection_list(self._handle(), ctypes.byref(arr), ctypes.byref(n)))
        try:
            return [CollectionInfo._from(arr[i]) for i in range(n.value)]
        finally:
            _lib.free(arr)

    def collection(self, name: str) -> CollectionInfo:
        """One collection's description; NotFound if it does not exist."""
        info = CollectionInfoT()
        check(_lib.lib().facet_collection_get(self._handle(), enc(name, "collection"), ctypes.byref(info)))
        return CollectionInfo._from(info)

    def load(self, name: str) -> Dict[str, Union[int, float]]:
        """Loads a collection into memory now (a no-op if loaded); what the load found: rows
        loaded and corrupt rows skipped, by kind."""
        st = _lib.LoadStats()
        check(_lib.lib().facet_collection_load(self._handle(), enc(name, "collection"), ctypes.byref(st)))
        return {k: getattr(st, k) for k, _ in _lib.LoadStats._fields_}

    def unload(self, name: str) -> None:
        """Frees a collection's memory; it stays in the store."""
        check(_lib.lib().facet_collection_unload(self._handle(), enc(name, "collection")))

    def drop_collection(self, name: str) -> None:
        """Deletes a collection and all its faceprints from the store."""
        check(_lib.lib().facet_collection_drop(self._handle(), enc(name, "collection")))

    def _loaded(self, name: str) -> bytes:
        b = enc(name, "collection")
        check(_lib.lib().facet_collection_load(self._handle(), b, None))
        return b

    # ---- enrolment ----

    def enroll(self, collection: str, identity: str, faceprint: Faceprint, payload: Optional[bytes] = None,
               create: bool = True) -> str:
        """Adds a faceprint under `identity`; returns its new UUID. With create=True a missing
        collection is created for the faceprint's model. `payload` (e.g. the face chip as PNG)
        is stored only by collections made with keep_payload=True."""
        L = _lib.lib()
        name = enc(collection, "collection")
        rc = L.facet_collection_load(self._handle(), name, None)
        if rc == Status.NOT_FOUND and create:
            try:
                self.create_collection(collection, faceprint.model, faceprint.dim)
            except Error as e:
                if e.status != Status.EXISTS:  # another process created it in between: fine
                    raise
            rc = L.facet_collection_load(self._handle(), name, None)
        check(rc)
        uuid = UuidBuf()
        fp = faceprint._raw
        data = bytes(payload) if payload is not None else None
        check(L.facet_gallery_enroll(self._handle(), name, fp.model, fp.v, fp.dim, enc(identity, "identity"), data,
                                     len(data) if data is not None else 0, uuid))
        return uuid.value.decode()

    def enroll_many(self, collection: str, items: Sequence[tuple]) -> List[str]:
        """Adds [(identity, Faceprint), ...] in one transaction (all or none); their UUIDs.
        The collection must exist."""
        if not items:
            return []
        model, dim = items[0][1].model, items[0][1].dim
        n = len(items)
        vecs = (ctypes.c_float * (n * dim))()
        idents = (ctypes.c_char_p * n)()
        keep = []
        for i, (identity, fp) in enumerate(items):
            if fp.model != model or fp.dim != dim:
                raise ModelError(Status.MODEL, "faceprint %d is of model %s/%d, the first of %s/%d"
                                 % (i, fp.model, fp.dim, model, dim))
            ctypes.memmove(ctypes.byref(vecs, i * dim * 4), fp._raw.v, dim * 4)
            b = enc(identity, "identity")
            keep.append(b)
            idents[i] = b
        uuids = (UuidBuf * n)()
        check(_lib.lib().facet_gallery_enroll_batch(self._handle(), self._loaded(collection), model.encode(), vecs,
                                                    n, dim, idents, uuids))
        return [u.value.decode() for u in uuids]

    def remove(self, collection: str, uuid: str) -> None:
        """Removes one enrolled faceprint; NotFound if the collection has no such UUID."""
        check(_lib.lib().facet_gallery_remove(self._handle(), self._loaded(collection), enc(uuid, "uuid")))

    def remove_identity(self, collection: str, identity: str) -> int:
        """Removes every faceprint of `identity`; how many there were (0 is not an error)."""
        n = ctypes.c_size_t()
        check(_lib.lib().facet_gallery_remove_identity(self._handle(), self._loaded(collection),
                                                       enc(identity, "identity"), ctypes.byref(n)))
        return n.value

    def identities(self, collection: str) -> Dict[str, int]:
        """identity -> number of faceprints, sorted by identity."""
        arr = ctypes.POINTER(_lib.IdentityCount)()
        n = ctypes.c_size_t()
        check(_lib.lib().facet_gallery_identities(self._handle(), self._loaded(collection), ctypes.byref(arr),
                                                  ctypes.byref(n)))
        try:
            return {arr[i].identity.decode(): arr[i].count for i in range(n.value)}
        finally:
            _lib.free(arr)

    def count(self, collection: str) -> int:
        """Number of faceprints in the collection."""
        n = ctypes.c_size_t()
        check(_lib.lib().facet_gallery_count(self._handle(), self._loaded(collection), ctypes.byref(n)))
        return n.value

    def faces(self, collection: str, identity: Optional[str] = None, offset: int = 0,
              limit: int = 100) -> Tuple[List[Tuple[str, str]], int]:
        """One page of the enrolments, as [(uuid, identity)] in a stable order (identity, then
        UUID), and the number of all of them; only `identity`'s when it is given."""
        arr = ctypes.POINTER(_lib.FaceRef)()
        n, total = ctypes.c_size_t(), ctypes.c_size_t()
        who = enc(identity, "identity") if identity is not None else None
        check(_lib.lib().facet_gallery_faces(self._handle(), self._loaded(collection), who, int(offset), int(limit),
                                             ctypes.byref(arr), ctypes.byref(n), ctypes.byref(total)))
        try:
            return [(arr[i].uuid.decode(), arr[i].identity.decode()) for i in range(n.value)], total.value
        finally:
            _lib.free(arr)

    def face(self, collection: str, uuid: str) -> Tuple[str, Faceprint]:
        """(identity, faceprint) of one enrolment; NotFound if the collection has no such UUID."""
        info = self.collection(collection)
        raw = _lib.FaceprintT()
        ident = (ctypes.c_char * (_lib.IDENTITY_MAX + 1))()
        if not 1 <= info.dim <= _lib.FACEPRINT_DIM:
            raise ModelError(Status.MODEL, "collection %s has %d-d faceprints; this package holds at most %d"
                             % (collection, info.dim, _lib.FACEPRINT_DIM))
        check(_lib.lib().facet_gallery_face(self._handle(), self._loaded(collection), enc(uuid, "uuid"), raw.v,
                                            info.dim, ident))
        raw.model, raw.dim = enc(info.model, "model"), info.dim
        return ident.value.decode(), Faceprint(raw)

    def payload(self, collection: str, uuid: str) -> Optional[bytes]:
        """The payload stored with one enrolment, or None when it has none."""
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        check(_lib.lib().facet_gallery_payload(self._handle(), enc(collection, "collection"), enc(uuid, "uuid"),
                                               ctypes.byref(data), ctypes.byref(size)))
        if not data:
            return None
        try:
            return ctypes.string_at(data, size.value)
        finally:
            _lib.free(data)

    def rename_identity(self, collection: str, old: str, new: str) -> int:
        """Gives every faceprint of `old` the identity `new` (merging when `new` exists), keeping
        their UUIDs; how many were renamed (0 is not an error)."""
        n = ctypes.c_size_t()
        check(_lib.lib().facet_gallery_rename_identity(self._handle(), self._loaded(collection), enc(old, "identity"),
                                                       enc(new, "identity"), ctypes.byref(n)))
        return n.value

    def payloads(self, collection: str) -> List[tuple]:
        """[(uuid, identity, payload bytes)] of every enrolment that kept a payload."""
        out: List[tuple] = []

        def each(_user, uuid, identity, data, size):  # noqa: ANN001 - the C callback's signature
            out.append((uuid.decode(), identity.decode(), ctypes.string_at(data, size)))
            return 0

        cb = _lib.PayloadFn(each)
        check(_lib.lib().facet_collection_foreach_payload(self._handle(), enc(collection, "collection"), cb, None))
        return out

    # ---- search ----

    def identify(self, collection: str, faceprint: Faceprint, k: int = 1) -> List[Match]:
        """The k best matches, best first (fewer if the collection is smaller)."""
        if not 1 <= k <= 10000:
            raise ValueError("k must be 1..10000, got %r" % (k,))
        out = (MatchT * k)()
        n = ctypes.c_int()
        fp = faceprint._raw
        check(_lib.lib().facet_gallery_identify_top_k(self._handle(), self._loaded(collection), fp.model, fp.v,
                                                      fp.dim, k, out, ctypes.byref(n)))
        return [_match(m) for m in out[: n.value]]

    def identify_many(self, collection: str, faceprints: Sequence[Faceprint], k: int = 1) -> List[List[Match]]:
        """identify() for many probes at once, using every thread of the gallery (much faster
        than one call per probe on a large collection)."""
        if not faceprints:
            return []
        if not 1 <= k <= 10000:
            raise ValueError("k must be 1..10000, got %r" % (k,))
        model, dim, n = faceprints[0]._raw.model, faceprints[0].dim, len(faceprints)
        vecs = (ctypes.c_float * (n * dim))()
        for i, fp in enumerate(faceprints):
            if fp._raw.model != model or fp.dim != dim:
                raise ModelError(Status.MODEL, "probe %d is of model %s, the first of %s"
                                 % (i, fp.model, model.decode()))
            ctypes.memmove(ctypes.byref(vecs, i * dim * 4), fp._raw.v, dim * 4)
        out = (MatchT * (n * k))()
        counts = (ctypes.c_int * n)()
        check(_lib.lib().facet_gallery_batch_identify(self._handle(), self._loaded(collection), model, vecs, n, dim,
                                                      k, out, counts))
        return [[_match(out[i * k + j]) for j in range(counts[i])] for i in range(n)]


def _match(m: MatchT) -> Match:
    return Match(identity=m.identity.decode(), uuid=m.uuid.decode(), similarity=m.similarity,
                 probability=m.probability)

