"""Images from files, bytes and numpy arrays, with the channel order said explicitly."""
import numpy as np
import pytest

from conftest import data


def test_file_bytes_and_array_agree(facet, sdk):
    path = data("images", "obama.jpg")
    from_file = facet.Image.open(path)
    with open(path, "rb") as f:
        from_bytes = facet.Image.from_bytes(f.read())
    rgb = from_file.to_array()
    assert rgb.shape == (from_file.height, from_file.width, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, from_bytes.to_array())
    from_rgb = facet.Image.from_array(rgb, "rgb")
    from_bgr = facet.Image.from_array(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr")
    assert np.array_equal(from_rgb.to_array(), rgb) and np.array_equal(from_bgr.to_array(), rgb)
    # the same faceprint from each source, and a path gives the same as an Image
    ref = sdk.faceprint(path)
    for img in (from_file, from_bytes, from_rgb, from_bgr):
        assert facet.compare(ref, sdk.faceprint(img))[0] > 0.9999


def test_wrong_channel_order_changes_the_faceprint(facet, sdk):
    # Guards the test above: if "bgr" were ignored, reading BGR pixels as RGB would agree too.
    rgb = facet.Image.open(data("images", "obama.jpg")).to_array()
    swapped = facet.Image.from_array(np.ascontiguousarray(rgb[:, :, ::-1]), "rgb")
    sim = facet.compare(sdk.faceprint(rgb_image(facet, rgb)), sdk.faceprint(swapped))[0]
    assert sim < 0.999, sim


def rgb_image(facet, a):
    return facet.Image.from_array(a, "rgb")


def test_views_rgba_and_grey(facet, sdk):
    rgb = facet.Image.open(data("gallery", "probe", "kit_with_rose.jpg")).to_array()
    view = rgb[10:-10, 5:-5]  # not contiguous
    assert np.array_equal(facet.Image.from_array(view, "rgb").to_array(), view)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    assert np.array_equal(facet.Image.from_array(rgba, "rgba").to_array(), rgb)
    assert np.array_equal(facet.Image.from_array(rgba[:, :, [2, 1, 0, 3]], "bgra").to_array(), rgb)
    grey = facet.Image.from_array(rgb[:, :, 1], "grey")
    assert grey.channels == 1 and grey.to_array().shape == rgb.shape[:2]
    assert len(sdk.detect(facet.Image.from_array(rgb, "rgb"))) == 2


def test_arrays_need_an_order_and_the_right_shape(facet, sdk):
    a = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(TypeError, match="colour order"):
        sdk.detect(a)
    with pytest.raises(TypeError):
        facet.Image.from_array(a)  # order is required
    with pytest.raises(ValueError, match="order"):
        facet.Image.from_array(a, "yuv")
    with pytest.raises(ValueError, match="HxWx4"):
        facet.Image.from_array(a, "rgba")
    with pytest.raises(TypeError, match="uint8"):
        facet.Image.from_array(a.astype(np.float32), "rgb")


def test_corrupt_and_missing_images_raise_with_messages(facet):
    with open(data("images", "obama.jpg"), "rb") as f:
        jpeg = f.read()
    with pytest.raises(facet.FormatError) as e:
        facet.Image.from_bytes(jpeg[: len(jpeg) // 3])
    assert e.value.status == facet.Status.FORMAT and "truncated" in str(e.value)
    with pytest.raises(facet.FormatError):
        facet.Image.from_bytes(b"not an image at all")
    with pytest.raises(facet.IOFailure) as e:
        facet.Image.open("/nonexistent/x.jpg")
    assert "/nonexistent/x.jpg" in str(e.value) and e.value.status == -3
    assert isinstance(e.value, OSError) and isinstance(e.value, facet.Error)
    with pytest.raises(facet.LimitExceeded):
        facet.Image.open(data("images", "obama.jpg"), max_pixels=1000)


def test_damaged_jpeg_is_an_error_unless_allowed(facet):
    with open(data("images", "obama.jpg"), "rb") as f:
        jpeg = bytearray(f.read())
    jpeg[len(jpeg) // 3:len(jpeg) // 3 + 8] = bytes(8)  # zeros inside the entropy-coded data
    with pytest.raises(facet.FormatError) as e:
        facet.Image.from_bytes(jpeg)
    assert "corrupt JPEG data" in e.value.message
    assert facet.Image.from_bytes(jpeg, allow_corrupt=True).size == (910, 1137)


def test_png_round_trip_crop_resize(facet, tmp_path):
    img = facet.Image.open(data("images", "astronaut.png"))
    back = facet.Image.from_bytes(img.to_png())
    assert np.array_equal(back.to_array(), img.to_array())
    img.save_png(tmp_path / "a.png")
    assert np.array_equal(facet.Image.open(tmp_path / "a.png").to_array(), img.to_array())
    c = img.crop(10, 20, 30, 40)
    assert c.size == (30, 40) and np.array_equal(c.to_array(), img.to_array()[20:60, 10:40])
    assert img.resize(64, 48).size == (64, 48)
