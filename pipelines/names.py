"""Folder and file names made from what people typed: a collection's name, a piece's title.

    slugify("Neon Rain (Demo)")   -> "neon-rain-demo"
    slugify("금성의 꽃, 장마")      -> "금성의-꽃-장마"

Letters and digits of every script are kept (lower-cased where the script has case), so a
Korean title gives a Korean folder name; everything else becomes one hyphen. The result is
NFC-normalised (macOS, Linux and zip tools then agree on the bytes), has no slashes, dots,
control or format characters, is at most `MAX_CHARS` characters and `MAX_BYTES` bytes of
UTF-8 (room for ".zip.part" and a temporary prefix under the usual 255-byte limit), and is
never a name Windows reserves.
"""

from __future__ import annotations

import unicodedata

MAX_CHARS = 60
MAX_BYTES = 180
WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))})


def _kept(char: str) -> bool:
    """Letters, digits and the marks that belong to them (vowel signs, accents); '_' too."""
    return char.isalnum() or char == "_" or unicodedata.category(char) in ("Mn", "Mc")


def slugify(text: str, default: str = "untitled") -> str:
    """`text` as a safe, readable folder name; `default` when nothing in it can be kept."""
    text = unicodedata.normalize("NFKC", text).lower()  # compatibility forms first: 'Ｖｅｎｕｓ' -> 'venus', '／' -> '/'
    pieces, gap = [], False
    for char in text:
        if _kept(char):
            if gap and pieces:
                pieces.append("-")
            pieces.append(char)
            gap = False
        else:
            gap = True
    slug = unicodedata.normalize("NFC", "".join(pieces))
    while slug and unicodedata.category(slug[0]) in ("Mn", "Mc"):  # a mark with nothing to sit on
        slug = slug[1:]
    slug = slug[:MAX_CHARS]
    while len(slug.encode("utf-8")) > MAX_BYTES:
        slug = slug[:-1]
    slug = slug.strip("-_")
    if not slug:
        return default
    return f"{slug}_" if slug in WINDOWS_RESERVED else slug
