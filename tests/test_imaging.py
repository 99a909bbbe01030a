import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import imaging
from brushwork.errors import ImageDecodeError, ImageTooLargeError, InvalidInputError

from .conftest import make_content


def _encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_reads_each_format(fmt):
    loaded = imaging.load_image(_encoded(make_content(64), fmt))
    assert loaded.rgb.mode == "RGB" and loaded.rgb.size == (64, 48) and loaded.alpha is None


def test_grayscale_becomes_rgb():
    loaded = imaging.load_image(_encoded(make_content(64).convert("L"), "PNG"))
    r, g, b = (np.asarray(c) for c in loaded.rgb.split())
    assert np.array_equal(r, g) and np.array_equal(g, b)


def test_alpha_is_kept_aside_and_restored():
    rgba = make_content(64).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))
    loaded = imaging.load_image(_encoded(rgba, "PNG"))
    assert loaded.alpha is not None
    restored = imaging.with_alpha(loaded.rgb.resize((32, 24)), loaded.alpha)
    assert restored.mode == "RGBA" and restored.size == (32, 24)


def test_sixteen_bit_is_scaled_not_clipped():
    array = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    loaded = imaging.load_image(_encoded(Image.fromarray(array), "PNG"))
    values = np.asarray(loaded.rgb)[..., 0]
    assert values.min() == 0 and values.max() == 255


def test_cmyk_becomes_rgb():
    loaded = imaging.load_image(_encoded(make_content(64).convert("CMYK"), "JPEG"))
    assert loaded.rgb.mode == "RGB"
    assert np.abs(np.asarray(loaded.rgb, float) - np.asarray(make_content(64), float)).mean() < 20


def test_exif_orientation_is_applied():
    image = make_content(64)  # 64 x 48
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    loaded = imaging.load_image(_encoded(image, "JPEG", exif=exif.tobytes()))
    assert loaded.rgb.size == (48, 64)


def test_decompression_bomb_refused():
    data = _encoded(Image.new("L", (1000, 1000)), "PNG")
    with pytest.raises(ImageTooLargeError, match="limit"):
        imaging.load_image(data, max_pixels=10_000)


@pytest.mark.parametrize("data, message", [
    (b"hello", "not an image"),
    (_encoded(make_content(64), "PNG")[:200], "could not be decoded"),
])
def test_bad_bytes(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        imaging.load_image(data)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageDecodeError, match="no such file"):
        imaging.load_image(tmp_path / "nope.png")
    with pytest.raises(ImageDecodeError, match="folder"):
        imaging.load_image(tmp_path)


def test_base64_plain_and_data_url():
    raw = _encoded(make_content(32), "PNG")
    text = base64.b64encode(raw).decode()
    assert imaging.decode_base64(text) == raw
    assert imaging.decode_base64("data:image/png;base64," + text) == raw
    with pytest.raises(ImageDecodeError, match="base64"):
        imaging.decode_base64("***")
    with pytest.raises(ImageDecodeError, match="empty"):
        imaging.decode_base64("")


def test_tensor_round_trip_is_exact():
    image = make_content(64)
    tensor = imaging.to_tensor(image)
    assert tensor.shape == (1, 3, 48, 64) and 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(imaging.to_pil(tensor)), np.asarray(image))


def test_output_size_keeps_aspect():
    assert imaging.output_size(577, 433, 512) == (512, 384)
    assert imaging.output_size(300, 600, 100) == (50, 100)
    assert imaging.output_size(300, 600, None) == (300, 600)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
def test_save_by_extension(tmp_path, suffix):
    path = imaging.save_image(make_content(32).convert("RGBA"), tmp_path / f"out{suffix}")
    assert Image.open(path).size == (32, 24)
    assert not list(tmp_path.glob("*.part"))


def test_save_refuses_unknown_extension_and_missing_folder(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown extension"):
        imaging.save_image(make_content(32), tmp_path / "out.xyz")
    with pytest.raises(InvalidInputError, match="does not exist"):
        imaging.save_image(make_content(32), tmp_path / "no" / "out.png")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    def broken(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError):
        imaging.save_image(make_content(32), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_array_inputs():
    loaded = imaging.load_image(np.zeros((8, 8, 3), dtype=np.float32))
    assert loaded.rgb.size == (8, 8)
    with pytest.raises(InvalidInputError, match="shape"):
        imaging.load_image(np.zeros((2, 2, 2, 2)))
    assert torch.is_tensor(imaging.to_tensor(loaded.rgb))


def test_load_tensor_scales_the_long_side(tmp_path):
    path = tmp_path / "scene.png"
    make_content(64).save(path)
    tensor = imaging.load_tensor(path, 32)
    assert tensor.shape == (1, 3, 24, 32) and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    assert imaging.load_tensor(path).shape == (1, 3, 48, 64)   # None keeps the size


def test_big_jpegs_decode_at_a_reduced_scale_never_below_the_size_asked_for(tmp_path):
    photo = make_content(96).resize((2000, 1500))
    photo.save(tmp_path / "big.jpg", quality=90)
    photo.save(tmp_path / "big.png")
    assert imaging.load_image(tmp_path / "big.jpg").rgb.size == (2000, 1500)          # nothing asked: all of it
    small = imaging.load_image(tmp_path / "big.jpg", long_side=400).rgb
    assert small.size == (500, 375)                                                   # 1/4 scale, still >= 400
    assert imaging.load_image(tmp_path / "big.jpg", long_side=1999).rgb.size == (2000, 1500)
    assert imaging.load_image(tmp_path / "big.png", long_side=400).rgb.size == (2000, 1500)  # not a JPEG
    # shrunk the rest of the way, it is the same picture as decoding everything
    full = imaging.resize(imaging.load_image(tmp_path / "big.jpg").rgb, (400, 300))
    difference = np.abs(np.asarray(full, float) - np.asarray(imaging.resize(small, (400, 300)), float))
    assert difference.mean() < 1.5


def test_exif_rotated_jpeg_keeps_its_orientation_when_decoded_small(tmp_path):
    photo = make_content(96).resize((1600, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6                                                                  # rotate 90° on display
    photo.save(tmp_path / "turned.jpg", exif=exif)
    assert imaging.load_image(tmp_path / "turned.jpg", long_side=300).rgb.size == (300, 400)
