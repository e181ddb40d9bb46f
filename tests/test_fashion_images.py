"""Uploaded reference images: refused before decoding when too big, a bomb, the wrong format or
broken; decoded upright and in RGB(A) when fine."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipelines.fashion.images import UploadError, load_upload, load_upload_file


def encoded(format: str, mode: str = "RGB", size: tuple[int, int] = (64, 48), **options) -> bytes:
    color = {"RGB": (200, 100, 50), "RGBA": (200, 100, 50, 128), "L": 90}.get(mode, 0)
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format, **options)
    return buffer.getvalue()


def png(width: int, height: int, rows: bytes, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG built chunk by chunk, so a test can declare any size it likes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_good_images_load_as_rgb(format):
    image = load_upload(encoded(format))
    assert image.size == (64, 48) and image.mode == "RGB"
    assert np.abs(np.asarray(image, dtype=np.int32)[10, 10] - (200, 100, 50)).max() <= 4


def test_transparency_greyscale_and_sixteen_bits_are_converted():
    assert load_upload(encoded("PNG", "RGBA")).mode == "RGBA"
    assert load_upload(encoded("WEBP", "RGBA")).mode == "RGBA"
    assert load_upload(encoded("PNG", "P", transparency=0)).mode == "RGBA"
    assert load_upload(encoded("PNG", "L")).mode == "RGB"
    ramp = (np.arange(256, dtype=np.uint32)[None, :] * 257).repeat(4, axis=0)  # 0..65535
    buffer = io.BytesIO()
    Image.fromarray(ramp.astype(np.uint16)).save(buffer, "PNG")
    loaded = np.asarray(load_upload(buffer.getvalue()))
    assert loaded.shape == (4, 256, 3) and loaded[0, 0, 0] == 0 and loaded[0, 255, 0] == 255 and loaded[0, 128, 0] == 128


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    assert load_upload(buffer.getvalue()).size == (20, 60)


def test_too_many_bytes_is_refused_before_parsing():
    with pytest.raises(UploadError, match=r"the upload is 20\.5 MB \(20,500,000 bytes\); the limit is 20 MB"):
        load_upload(b"\x89PNG" + bytes(20_499_996))
    with pytest.raises(UploadError, match=r"the upload is 2,000 bytes; the limit is 1,000 bytes"):
        load_upload(encoded("PNG", size=(40, 40), compress_level=0)[:2000], max_bytes=1000)
    with pytest.raises(UploadError, match="empty"):
        load_upload(b"")


def test_a_decompression_bomb_is_refused_from_its_header():
    # A real, valid PNG: 20000 × 20000 black pixels (1 bit each) in about 50 kB.
    row = bytes(1 + 20000 // 8)
    compressor = zlib.compressobj(9)
    rows = b"".join(compressor.compress(row) for _ in range(20000)) + compressor.flush()
    bomb = png(20000, 20000, rows, bit_depth=1, color_type=0)
    assert len(bomb) < 100_000
    with pytest.raises(UploadError, match=r"the image is 20000×20000 = 400 million pixels; the limit is 40 million"):
        load_upload(bomb)  # refused from the header, nothing decoded (bench/fashion.py times it)


def test_the_pixel_limit_is_checked_before_decoding():
    # 8000 × 8000 is under PIL's own bomb limit but over ours; its data would not even decode.
    declared = png(8000, 8000, zlib.compress(b"\x00" * 100))
    with pytest.raises(UploadError, match=r"the image is 8000×8000 = 64 million pixels; the limit is 40 million"):
        load_upload(declared)
    with pytest.raises(UploadError, match=r"64×48 = 3,072 pixels; the limit is 1,000"):
        load_upload(encoded("PNG"), max_pixels=1000)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encoded("GIF"), r"the upload is a GIF image; allowed formats are PNG, JPEG, WEBP"),
        (encoded("BMP"), r"the upload is a BMP image"),
        (encoded("TIFF"), r"the upload is a TIFF image"),
        (b"name,colour\nhanji,#F2EDE3\n", r"not a readable PNG, JPEG, WEBP image: it looks like text \('name,colour"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", r"it looks like an SVG drawing"),
        (bytes(range(64)), r"it looks like unrecognised binary data starting 00 01 02"),
    ],
    ids=["gif", "bmp", "tiff", "csv", "svg", "binary"],
)
def test_other_formats_are_refused_by_name(data, expected):
    with pytest.raises(UploadError, match=expected):
        load_upload(data)


def test_the_allowed_formats_can_be_narrowed():
    with pytest.raises(UploadError, match="the upload is a JPEG image; allowed formats are PNG"):
        load_upload(encoded("JPEG"), formats=("PNG",))
    assert load_upload(encoded("png"), formats=("png",)).mode == "RGB"


def test_truncated_and_corrupt_files_are_refused():
    good_png = encoded("PNG", size=(200, 200))
    with pytest.raises(UploadError, match=r"the PNG image could not be decoded, it may be truncated or corrupt"):
        load_upload(good_png[: len(good_png) // 2])
    with pytest.raises(UploadError, match=r"the JPEG header could not be read|the JPEG image could not be decoded"):
        load_upload(encoded("JPEG")[:200])
    # The pixel data of a valid header replaced with garbage.
    with pytest.raises(UploadError, match=r"the PNG image could not be decoded"):
        load_upload(png(64, 64, b"\x78\x9c" + bytes(range(200))))
    with pytest.raises(UploadError, match=r"PNG"):
        load_upload(good_png[:30])


def test_load_upload_file(tmp_path):
    path = tmp_path / "moodboard.webp"
    path.write_bytes(encoded("WEBP"))
    assert load_upload_file(path).size == (64, 48)
    huge = tmp_path / "huge.png"
    with huge.open("wb") as file:
        file.truncate(25_000_000)  # sparse: the size is refused from stat, nothing is read
    with pytest.raises(UploadError, match=r"huge.png is 25 MB \(25,000,000 bytes\); the limit is 20 MB"):
        load_upload_file(huge)
    with pytest.raises(UploadError, match="cannot read the upload .*missing.jpg"):
        load_upload_file(tmp_path / "missing.jpg")
