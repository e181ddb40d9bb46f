"""Checking uploaded reference images before anything decodes them.

A designer's mood-board upload is untrusted bytes. `load_upload` refuses what it should not
decode, in order of cost: too many bytes (before parsing), a format outside the allowed
ones or too many pixels (from the header, before decoding: a few-kilobyte PNG can declare
enough pixels to exhaust memory), then a file that fails to decode. Every refusal is an
UploadError that names the limit and what was received.

    image = load_upload(request_body)                 # RGB or RGBA, EXIF orientation applied
    image = load_upload_file("moodboard.jpg", max_pixels=20_000_000)
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 20_000_000
MAX_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG", "WEBP")

# Leading bytes of formats people upload by mistake, to say what was received instead.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
)


class UploadError(ValueError):
    """An upload that was refused; the message names the limit and what was received."""


def load_upload(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    formats: Sequence[str] = FORMATS,
) -> Image.Image:
    """The uploaded image, decoded, upright (EXIF orientation applied) and in RGB, or RGBA
    when it has transparency. Raises UploadError for anything it refuses."""
    if not data:
        raise UploadError("the upload is empty (0 bytes)")
    if len(data) > max_bytes:
        raise UploadError(f"the upload is {_bytes(len(data))}; the limit is {_bytes(max_bytes)}")
    allowed = tuple(name.upper() for name in formats)
    image = _open(data, allowed, max_pixels)
    if image.width * image.height > max_pixels:
        raise UploadError(_too_many_pixels(image.size, max_pixels))
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise UploadError(f"the {image.format} image could not be decoded, it may be truncated or corrupt ({len(data):,} bytes): {error}") from None
    return _as_rgb(upright)


def load_upload_file(
    path: str | Path,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    formats: Sequence[str] = FORMATS,
) -> Image.Image:
    """`load_upload` for a file; its size is checked before it is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UploadError(f"cannot read the upload {path}: {error.strerror or error}") from None
    if size > max_bytes:
        raise UploadError(f"{path.name} is {_bytes(size)}; the limit is {_bytes(max_bytes)}")
    return load_upload(path.read_bytes(), max_bytes=max_bytes, max_pixels=max_pixels, formats=formats)


def _open(data: bytes, allowed: tuple[str, ...], max_pixels: int) -> Image.Image:
    """Parse the header only (PIL opens lazily), trying no decoders but the allowed ones."""
    received = _sniff(data)
    if received is not None and received not in allowed:
        raise UploadError(f"the upload is a {received} image; allowed formats are {', '.join(allowed)}")
    try:
        with warnings.catch_warnings():
            # PIL only warns between its own limit and twice that: treat the warning as refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=allowed)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(_too_many_pixels(_declared_size(data, received), max_pixels)) from None
    except UnidentifiedImageError:
        what = f"a {received} file that could not be read" if received else _describe_unknown(data)
        raise UploadError(f"the upload is not a readable {', '.join(allowed)} image: it looks like {what}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UploadError(f"the {received or 'image'} header could not be read, the file may be truncated or corrupt: {error}") from None
    if image.format == "MPO" and "JPEG" in allowed:
        return image  # a phone's multi-picture JPEG: the first picture is the photo
    if image.format not in allowed:  # a plugin registered under another name
        raise UploadError(f"the upload is a {image.format} image; allowed formats are {', '.join(allowed)}")
    return image


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        return "HEIF/AVIF"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def _describe_unknown(data: bytes) -> str:
    head = data[:512]
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "an SVG drawing (text), not a raster image"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text or not all(character.isprintable() or character in "\r\n\t" for character in text):
        return f"unrecognised binary data starting {head[:8].hex(' ')}"
    shown = text[:40].replace("\n", " ")
    return f"text ({shown!r}…)" if len(text) > 40 else f"text ({shown!r})"


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits first, PIL's own conversion clips instead.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode in ("P", "L", "RGB") and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def _bytes(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB ({count:,} bytes)".replace(".0 MB", " MB")
    return f"{count:,} bytes"


def _pixels(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} million".replace(".0 million", " million")
    return f"{count:,}"


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> str:
    if size is None:
        return f"the image declares more pixels than can be decoded safely; the limit is {_pixels(max_pixels)}"
    width, height = size
    return f"the image is {width}×{height} = {_pixels(width * height)} pixels; the limit is {_pixels(max_pixels)}"


def _declared_size(data: bytes, format: str | None) -> tuple[int, int] | None:
    """The size a header declares, read by the format's own parser without PIL's bomb check
    (which refused it before its size could be reported). Nothing is decoded."""
    if format not in Image.OPEN:
        return None
    factory, _ = Image.OPEN[format]
    try:
        return factory(io.BytesIO(data), None).size
    except Exception:  # the size is only for the message; any parse failure leaves it out
        return None
