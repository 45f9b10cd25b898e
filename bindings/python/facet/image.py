"""Images for facet: decoded from a file or from bytes, or copied from a numpy array.

A facet.Image owns a libfacet facet_image (8-bit RGB or grey). numpy is optional: it is
imported only by from_array/to_array. Arrays carry no colour order, so from_array makes the
caller say it ("rgb" from PIL/imageio/matplotlib, "bgr" from OpenCV): a wrong guess would not
fail, it would quietly make every faceprint worse.
"""
from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _lib
from ._lib import ImageT, check

if TYPE_CHECKING:  # pragma: no cover
    import numpy

# facet_pixel_format values of include/facet/image.h
_RGB, _BGR, _RGBA, _BGRA, _GREY = 0, 1, 2, 3, 4

PathLike = Union[str, "os.PathLike[str]"]


class Image(_lib.Owned):
    """An 8-bit RGB (or grey) image held by libfacet.

    Make one with Image.open(path), Image.from_bytes(jpeg_or_png) or
    Image.from_array(array, "rgb" | "bgr"). SDK methods also take a path or encoded bytes
    directly. An Image may be read by many threads at once.
    """

    _destroy = "facet_image_destroy"

    def __init__(self, _ptr: "ctypes._Pointer[ImageT]"):
        """Internal: use open, from_bytes or from_array."""
        self._h = _ptr

    @staticmethod
    def _options(max_pixels: Optional[int], exif: bool, allow_corrupt: bool) -> _lib.DecodeOptions:
        opt = _lib.DecodeOptions()
        _lib.lib().facet_decode_defaults(ctypes.byref(opt))
        if max_pixels is not None:
            opt.max_pixels = int(max_pixels)
        opt.apply_exif = int(bool(exif))
        opt.allow_corrupt = int(bool(allow_corrupt))
        return opt

    @classmethod
    def open(cls, path: PathLike, max_pixels: Optional[int] = None, exif: bool = True,
             allow_corrupt: bool = False) -> "Image":
        """Decodes a JPEG or PNG file (the format is recognised by its content). EXIF orientation
        is applied unless exif=False. Larger than max_pixels (default 100 million) is an error
        (LimitExceeded) before any pixel memory is allocated. Damaged but decodable data is a
        FormatError unless allow_corrupt=True (then libfacet logs a warning)."""
        ptr = ctypes.POINTER(ImageT)()
        opt = cls._options(max_pixels, exif, allow_corrupt)
        check(_lib.lib().facet_image_decode_file(os.fsencode(path), ctypes.byref(opt), ctypes.byref(ptr)))
        return cls(ptr)

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview], max_pixels: Optional[int] = None,
                   exif: bool = True, allow_corrupt: bool = False) -> "Image":
        """Decodes a JPEG or PNG held in memory (e.g. an upload or a camera's MJPEG frame), with
        the options of open()."""
        buf = bytes(data)
        ptr = ctypes.POINTER(ImageT)()
        opt = cls._options(max_pixels, exif, allow_corrupt)
        check(_lib.lib().facet_image_decode_memory(buf, len(buf), ctypes.byref(opt), ctypes.byref(ptr)))
        return cls(ptr)

    @classmethod
    def from_array(cls, array: "numpy.ndarray", order: str) -> "Image":
        """Copies a numpy uint8 array: HxWx3 with order "rgb" or "bgr" (OpenCV), HxWx4 with
        "rgba" or "bgra" (alpha ignored), or HxW / HxWx1 with "grey". The order must be given:
        numpy arrays do not say which channel is red."""
        import numpy as np

        if not isinstance(array, np.ndarray):
            raise TypeError("array must be a numpy.ndarray, not %s" % type(array).__name__)
        if array.dtype != np.uint8:
            raise TypeError("array must be uint8 (0..255), not %s" % array.dtype)
        order = order.lower() if isinstance(order, str) else order
        formats = {"rgb": (_RGB, 3), "bgr": (_BGR, 3), "rgba": (_RGBA, 4), "bgra": (_BGRA, 4),
                   "grey": (_GREY, 1), "gray": (_GREY, 1)}
        if order not in formats:
            raise ValueError("order must be one of rgb, bgr, rgba, bgra, grey; got %r" % (order,))
        fmt, channels = formats[order]
        if array.ndim == 2 and channels == 1:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] != channels:
            raise ValueError("an array for order %r must be HxWx%d, got shape %s" % (order, channels, array.shape))
        height, width = array.shape[:2]
        array = np.ascontiguousarray(array)  # rows may come from a view; the library wants rows*stride bytes
        ptr = ctypes.POINTER(ImageT)()
        check(_lib.lib().facet_image_from_pixels(fmt, width, height, width * channels,
                                                 array.ctypes.data_as(ctypes.c_void_p), ctypes.byref(ptr)))
        return cls(ptr)

    def to_array(self) -> "numpy.ndarray":
        """A numpy copy of the pixels: HxWx3 uint8 in RGB order, or HxW for a grey image."""
        import numpy as np

        im = self._handle().contents
        rows = ctypes.string_at(im.data, im.stride * im.height)
        a = np.frombuffer(rows, dtype=np.uint8).reshape(im.height, im.stride)[:, : im.width * im.channels]
        return a.reshape(im.height, im.width, im.channels) if im.channels > 1 else a.reshape(im.height, im.width)

    def to_png(self) -> bytes:
        """The image encoded as PNG."""
        data = ctypes.POINTER(ctypes.c_uint8)()
        size = ctypes.c_size_t()
        check(_lib.lib().facet_image_encode_png(self._handle(), ctypes.byref(data), ctypes.byref(size)))
        try:
            return ctypes.string_at(data, size.value)
        finally:
            _lib.free(data)

    def save_png(self, path: PathLike) -> None:
        """Writes the image to `path` as PNG (replacing it)."""
        check(_lib.lib().facet_image_write_png(self._handle(), os.fsencode(path)))

    def crop(self, x: int, y: int, w: int, h: int) -> "Image":
        """The rectangle (x, y, w, h), clamped to the image, as a new image."""
        out = ctypes.POINTER(ImageT)()
        check(_lib.lib().facet_image_crop(self._handle(), int(x), int(y), int(w), int(h), ctypes.byref(out)))
        return Image(out)

    def resize(self, width: int, height: int) -> "Image":
        """A copy resized to exactly width x height (bilinear, area averaging when shrinking)."""
        out = ctypes.POINTER(ImageT)()
        check(_lib.lib().facet_image_resize(self._handle(), int(width), int(height), ctypes.byref(out)))
        return Image(out)

    @property
    def width(self) -> int:
        return int(self._handle().contents.width)

    @property
    def height(self) -> int:
        return int(self._handle().contents.height)

    @property
    def channels(self) -> int:
        """3 for RGB, 1 for grey."""
        return int(self._handle().contents.channels)

    @property
    def size(self) -> tuple:
        """(width, height) in pixels."""
        return (self.width, self.height)

    def __repr__(self) -> str:
        if not self._h:
            return "Image(closed)"
        return "Image(%dx%d, %s)" % (self.width, self.height, "RGB" if self.channels == 3 else "grey")


ImageInput = Union[Image, str, "os.PathLike[str]", bytes, bytearray, memoryview]


def as_image(source: ImageInput) -> Image:
    """An Image from what SDK methods accept: an Image, a path, or JPEG/PNG bytes."""
    if isinstance(source, Image):
        source._handle()  # ValueError once closed
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Image.from_bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return Image.open(source)
    if type(source).__module__ == "numpy":
        raise TypeError("a numpy array has no colour order: pass facet.Image.from_array(array, \"rgb\") "
                        "or (OpenCV) facet.Image.from_array(array, \"bgr\")")
    raise TypeError("expected a facet.Image, a path or JPEG/PNG bytes, not %s" % type(source).__name__)
