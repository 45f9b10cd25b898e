"""A client for facetd's HTTP API (docs/api.md), on the standard library alone (urllib).

It needs no libfacet: a machine that only talks to a facetd can `pip install` the package
built with FACET_LIB=none. Images go up as raw JPEG/PNG bodies (no base64 inflation) when a
route takes one input, as base64 in a JSON body when it takes two; faceprints go as facet's
JSON form. Errors come back as facet.ApiError carrying the HTTP status, the server's error code
and message; it is also the facet.Error subclass the status maps to (404 is a facet.NotFound).
429 and 503 answers carry Retry-After: the client waits that long (at most `max_wait` seconds)
and tries again, up to `retries` times: the server answers them before running the request, so
a retry cannot do anything twice.
"""
from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Union

from .errors import ApiError, api_error

ImageArg = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]  # Any: a facet.Image
FaceprintArg = Union[Dict[str, Any], str, Any]  # a JSON dict or string, or a facet.Faceprint


def _image_bytes(image: ImageArg) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return f.read()
    if hasattr(image, "to_png"):  # a facet.Image (e.g. from a numpy array): send it losslessly
        return image.to_png()
    raise TypeError("image must be a path, JPEG/PNG bytes or a facet.Image, not %s" % type(image).__name__)


def _media_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return "application/octet-stream"  # the server answers 415 with its reason


def _faceprint_json(fp: FaceprintArg) -> Dict[str, Any]:
    if isinstance(fp, dict):
        return fp
    if isinstance(fp, str):
        return json.loads(fp)
    if hasattr(fp, "to_json"):  # a facet.Faceprint
        return json.loads(fp.to_json())
    raise TypeError("faceprint must be a dict, a JSON string or a facet.Faceprint, not %s" % type(fp).__name__)


def _flag(v: bool) -> str:
    return "true" if v else "false"


class Client:
    """facetd's API. `url` is the server ("http://127.0.0.1:8080"), `key` an API key (sent as
    `Authorization: Bearer KEY`; None for /healthz and /readyz only). Methods return the
    server's JSON answers as dicts and lists (see docs/api.md for every field).

        c = facet.Client("http://127.0.0.1:8080", key)
        c.create_collection("people")
        c.enroll("people", "ada", "ada.jpg")
        c.identify("people", "group.jpg")   # [{"box": [...], "candidates": [{"identity": "ada", ...}]}]
    """

    def __init__(self, url: str = "http://127.0.0.1:8080", key: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 2, max_wait: float = 5.0, ssl_context: Any = None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("url must be http://HOST:PORT or https://HOST:PORT, got %r" % (url,))
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.retries = retries
        self.max_wait = max_wait
        self._ssl = ssl_context

    # ---- transport ----

    def request(self, method: str, path: str, query: Optional[Dict[str, Any]] = None,
                json_body: Optional[Dict[str, Any]] = None, body: Optional[bytes] = None,
                content_type: Optional[str] = None) -> Any:
        """One call: the decoded JSON answer (or text for non-JSON answers); ApiError otherwise."""
        url = self.url + path
        q = {k: v for k, v in (query or {}).items() if v is not None}
        if q:
            url += "?" + urllib.parse.urlencode(q)
        headers = {"Accept": "application/json"}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as r:
                    return self._decode(r.headers.get("Content-Type", ""), r.read())
            except urllib.error.HTTPError as e:
                err = self._error(e)
                if err.http_status in (429, 503) and attempt < self.retries and err.retry_after is not None:
                    time.sleep(min(err.retry_after, self.max_wait))
                    continue
                raise err from None
        raise AssertionError("unreachable")

    @staticmethod
    def _decode(content_type: str, data: bytes) -> Any:
        if content_type.startswith("application/json"):
            return json.loads(data)
        return data.decode("utf-8", "replace")

    @staticmethod
    def _error(e: urllib.error.HTTPError) -> ApiError:
        raw = e.read()
        code, message = "http_%d" % e.code, raw.decode("utf-8", "replace")[:500] or e.reason
        try:
            err = json.loads(raw)["error"]
            code, message = err["code"], err["message"]
        except (ValueError, KeyError, TypeError):
            pass  # not facetd's error form (a proxy in between): keep the text
        retry = e.headers.get("Retry-After") if e.headers else None
        try:
            retry_after = float(retry) if retry is not None else None
        except ValueError:
            retry_after = None
        return api_error(e.code, code, message, retry_after)

    def _input(self, method: str, path: str, query: Dict[str, Any], image: Optional[ImageArg],
               faceprint: Optional[FaceprintArg], extra: Optional[Dict[str, Any]] = None) -> Any:
        """A route taking one image (sent raw) or one faceprint (sent as JSON)."""
        if (image is None) == (faceprint is None):
            raise ValueError("give exactly one of image and faceprint")
        if faceprint is not None:
            return self.request(method, path, query, json_body=dict(extra or {}, faceprint=_faceprint_json(faceprint)))
        data = _image_bytes(image)
        return self.request(method, path, query, body=data, content_type=_media_type(data))

    @staticmethod
    def _seg(s: str) -> str:
        return urllib.parse.quote(s, safe="")

    # ---- server ----

    def health(self) -> Dict[str, Any]:
        """GET /healthz: the process is up."""
        return self.request("GET", "/healthz")

    def ready(self) -> Dict[str, Any]:
        """GET /readyz: models loaded and the store reachable (ApiError 503 when not)."""
        return self.request("GET", "/readyz")

    def metrics(self) -> str:
        """GET /metrics: Prometheus text."""
        return self.request("GET", "/metrics")

    # ---- faces ----

    def detect(self, image: ImageArg, landmarks: bool = False, quality: bool = False, attributes: bool = False,
               chips: bool = False) -> Dict[str, Any]:
        """POST /v1/detect: {"width", "height", "faces": [{"box", "score", "points", ...}]}."""
        q = {"landmarks": _flag(landmarks), "quality": _flag(quality), "attributes": _flag(attributes),
             "chips": _flag(chips)}
        return self._input("POST", "/v1/detect", q, image, None)

    def faceprints(self, image: ImageArg) -> List[Dict[str, Any]]:
        """POST /v1/faceprints: [{"box", "faceprint": {model, dim, dtype, data}}] for every face;
        facet.Faceprint.from_json(json.dumps(f["faceprint"])) makes one usable locally."""
        return self._input("POST", "/v1/faceprints", {}, image, None)["faces"]

    def compare(self, a: Union[ImageArg, FaceprintArg], b: Union[ImageArg, FaceprintArg],
                threshold: Optional[float] = None) -> Dict[str, Any]:
        """POST /v1/compare of two images or faceprints: {"similarity", "probability", "match", "threshold"}."""
        body: Dict[str, Any] = {}
        for name, x in (("a", a), ("b", b)):
            if isinstance(x, dict) or hasattr(x, "to_json"):
                body["faceprint_" + name] = _faceprint_json(x)
            else:
                body["image_" + name] = base64.b64encode(_image_bytes(x)).decode()
        return self.request("POST", "/v1/compare", {"threshold": threshold}, json_body=body)

    # ---- collections ----

    def collections(self) -> List[Dict[str, Any]]:
        """GET /v1/collections: [{"name", "model", "dim", "dtype", "keep_payload", "faceprints", ...}]."""
        return self.request("GET", "/v1/collections")["collections"]

    def create_collection(self, name: str, dtype: Optional[str] = None,
                          keep_payload: Optional[bool] = None) -> Dict[str, Any]:
        """POST /v1/collections (admin key): a collection for the server's faceprint model."""
        body: Dict[str, Any] = {"name": name}
        if dtype is not None:
            body["dtype"] = dtype
        if keep_payload is not None:
            body["keep_payload"] = keep_payload
        return self.request("POST", "/v1/collections", json_body=body)

    def collection(self, name: str) -> Dict[str, Any]:
        """GET /v1/collections/NAME: its statistics."""
        return self.request("GET", "/v1/collections/" + self._seg(name))

    def drop_collection(self, name: str) -> Dict[str, Any]:
        """DELETE /v1/collections/NAME (admin key): the collection and all its faceprints."""
        return self.request("DELETE", "/v1/collections/" + self._seg(name))

    def enroll(self, collection: str, identity: str, image: Optional[ImageArg] = None,
               faceprint: Optional[FaceprintArg] = None, strict: bool = False) -> Dict[str, Any]:
        """POST /v1/collections/NAME/faces: enrols the largest face of `image`, or `faceprint`,
        under `identity`; {"uuid", "identity", "collection", "box"?}. strict=True refuses poor
        faces (ApiError 422 saying why)."""
        q = {"identity": identity, "strict": _flag(strict)}
        return self._input("POST", "/v1/collections/%s/faces" % self._seg(collection), q, image, faceprint)

    def remove_face(self, collection: str, uuid: str) -> Dict[str, Any]:
        """DELETE /v1/collections/NAME/faces/UUID."""
        return self.request("DELETE", "/v1/collections/%s/faces/%s" % (self._seg(collection), self._seg(uuid)))

    def identities(self, collection: str) -> Dict[str, int]:
        """GET /v1/collections/NAME/identities as {identity: number of faceprints}."""
        out = self.request("GET", "/v1/collections/%s/identities" % self._seg(collection))
        return {i["identity"]: i["faceprints"] for i in out["identities"]}

    def remove_identity(self, collection: str, identity: str) -> int:
        """DELETE /v1/collections/NAME/identities/IDENTITY: how many faceprints were removed."""
        out = self.request("DELETE", "/v1/collections/%s/identities/%s" % (self._seg(collection), self._seg(identity)))
        return int(out["removed"])

    def identify(self, collection: str, image: Optional[ImageArg] = None, faceprint: Optional[FaceprintArg] = None,
                 top_k: int = 1, threshold: Optional[float] = None, largest: bool = False) -> List[Dict[str, Any]]:
        """POST /v1/collections/NAME/identify: for every face (or the largest), its candidates at
        or above the threshold, best first: [{"box", "candidates": [{"identity", "uuid",
        "similarity", "probability"}]}]."""
        q = {"top_k": top_k, "threshold": threshold, "largest": _flag(largest)}
        return self._input("POST", "/v1/collections/%s/identify" % self._seg(collection), q, image, faceprint)["faces"]

    def recognize(self, collection: str, image: Optional[ImageArg] = None, faceprint: Optional[FaceprintArg] = None,
                  top_k: int = 1, threshold: Optional[float] = None, aligned: Optional[bool] = None) -> Dict[str, Any]:
        """POST /v1/collections/NAME/recognize: one face from a video client (an aligned 112x112
        chip, a face crop or a faceprint): {"candidates", "input", "server_ms", "compute_ms"}."""
        q = {"top_k": top_k, "threshold": threshold, "aligned": None if aligned is None else _flag(aligned)}
        return self._input("POST", "/v1/collections/%s/recognize" % self._seg(collection), q, image, faceprint)

    # ---- keys ----

    def create_key(self, role: str, collection: Optional[str] = None) -> Dict[str, Any]:
        """POST /v1/keys (admin key): {"key", "id", "role", ...}; the secret is in this answer only."""
        body: Dict[str, Any] = {"role": role}
        if collection is not None:
            body["collection"] = collection
        return self.request("POST", "/v1/keys", json_body=body)

    def keys(self) -> List[Dict[str, Any]]:
        """GET /v1/keys (admin key): ids, roles and collections, never the secrets."""
        return self.request("GET", "/v1/keys")["keys"]

    def revoke_key(self, key_id: str) -> Dict[str, Any]:
        """DELETE /v1/keys/ID (admin key)."""
        return self.request("DELETE", "/v1/keys/" + self._seg(key_id))
