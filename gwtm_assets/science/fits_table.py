"""A minimal reader for the FITS binary tables of multi-order sky maps, in numpy.

LIGO/Virgo/KAGRA sky maps are one BINTABLE of fixed-width numeric columns.
Reading them needs no more than this; ``astropy.io.fits`` takes ~0.4 s to
import, which every run would pay before posting its record. Anything this
reader does not handle (scaled or variable-length columns, heap data) raises
``UnsupportedFITS`` and the caller falls back to astropy.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

BLOCK = 2880
CARD = 80
#: FITS TFORM letter -> big-endian numpy type.
TFORM_TYPES = {"L": "?", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "A": "S"}
_TFORM = re.compile(r"^\s*(\d*)([LBIJKEDA])\s*$")
_STRING = re.compile(r"^'((?:[^']|'')*)'")


class UnsupportedFITS(ValueError):
    """The file uses a FITS feature this reader leaves to astropy."""


def _value(text: str) -> object:
    text = text.strip()
    match = _STRING.match(text)
    if match:
        return match.group(1).replace("''", "'").rstrip()
    value = text.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value.replace("D", "E"))
    except ValueError:
        return value


def read_header(data: bytes, offset: int) -> tuple[dict[str, Any], int]:
    """Header cards from ``offset``: ``({keyword: value}, offset of the data)``; COMMENT/HISTORY/blank skipped."""
    header: dict[str, Any] = {}
    position = offset
    while True:
        if position + BLOCK > len(data):
            raise UnsupportedFITS("header runs past the end of the file")
        block = data[position : position + BLOCK].decode("ascii", errors="replace")
        position += BLOCK
        for i in range(0, BLOCK, CARD):
            card = block[i : i + CARD]
            keyword = card[:8].rstrip()
            if keyword == "END":
                return header, position
            if keyword in ("", "COMMENT", "HISTORY", "CONTINUE") or card[8:10] != "= ":
                continue
            header[keyword] = _value(card[10:])


def _data_bytes(header: dict[str, Any]) -> int:
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    size = int(np.prod([int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1)]))
    size = abs(int(header["BITPIX"])) // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + size)
    return -(-size // BLOCK) * BLOCK


def read_bintable(data: bytes, extension: int = 1) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(header, {column: native-endian array})`` of binary-table extension ``extension`` of a FITS file."""
    if not data.startswith(b"SIMPLE  ="):
        raise UnsupportedFITS("not a FITS file")
    offset = 0
    for _ in range(extension):
        header, offset = read_header(data, offset)
        offset += _data_bytes(header)
    header, offset = read_header(data, offset)
    if header.get("XTENSION") != "BINTABLE" or int(header.get("PCOUNT", 0)) != 0:
        raise UnsupportedFITS("extension is not a plain binary table")
    fields: list[Any] = []
    for i in range(1, int(header["TFIELDS"]) + 1):
        if f"TSCAL{i}" in header or f"TZERO{i}" in header:
            raise UnsupportedFITS(f"column {i} is scaled")
        match = _TFORM.match(str(header[f"TFORM{i}"]))
        if not match:
            raise UnsupportedFITS(f"column {i} has format {header[f'TFORM{i}']}")
        repeat, letter = int(match.group(1) or 1), match.group(2)
        kind = TFORM_TYPES[letter]
        if letter == "A":
            fields.append((str(header[f"TTYPE{i}"]), f"S{repeat}"))
        else:
            fields.append(
                (str(header[f"TTYPE{i}"]), kind, (repeat,)) if repeat != 1 else (str(header[f"TTYPE{i}"]), kind)
            )
    dtype = np.dtype(fields)
    rows, row_bytes = int(header["NAXIS2"]), int(header["NAXIS1"])
    if dtype.itemsize != row_bytes:
        raise UnsupportedFITS(f"row is {row_bytes} bytes, columns make {dtype.itemsize}")
    if offset + rows * row_bytes > len(data):
        raise UnsupportedFITS("table runs past the end of the file")
    table = np.frombuffer(data, dtype=dtype, count=rows, offset=offset)
    columns = {name: table[name].astype(table[name].dtype.newbyteorder("="), copy=True) for name in dtype.names or ()}
    return header, columns
