"""Fermi inputs the tests build: FT2-like spacecraft files with a known pointing, element sets moved to an epoch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def write_ft2(
    path: Path,
    start_met: float,
    stop_met: float,
    ra_scz_deg: float,
    dec_scz_deg: float,
    in_saa: bool = False,
    step_s: float = 30.0,
) -> Path:
    """An FT2-like FITS file: ``SC_DATA`` rows of ``step_s`` seconds, all with the given pointing and SAA flag."""
    from astropy.io import fits

    start = np.arange(start_met, stop_met, step_s)
    columns = [
        fits.Column("START", "D", unit="s", array=start),
        fits.Column("STOP", "D", unit="s", array=np.minimum(start + step_s, stop_met)),
        fits.Column("RA_SCZ", "E", unit="deg", array=np.full(len(start), ra_scz_deg)),
        fits.Column("DEC_SCZ", "E", unit="deg", array=np.full(len(start), dec_scz_deg)),
        fits.Column("IN_SAA", "L", array=np.full(len(start), in_saa)),
    ]
    table = fits.BinTableHDU.from_columns(columns, name="SC_DATA")
    table.header["TSTART"] = start_met
    table.header["TSTOP"] = stop_met
    table.header["TELESCOP"] = "GLAST"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=True)
    return path


def _checksum(line: str) -> str:
    total = sum(int(c) if c.isdigit() else 1 if c == "-" else 0 for c in line[:68])
    return line[:68] + str(total % 10)


def element_set_at_epoch(line1: str, line2: str, epoch: datetime) -> tuple[str, str]:
    """The same orbital elements with their epoch moved to ``epoch`` (a synthetic set: real orbit shape, fake phase)."""
    epoch = epoch.astimezone(UTC)
    start = datetime(epoch.year, 1, 1, tzinfo=UTC)
    day = 1 + (epoch - start).total_seconds() / 86400
    field = f"{epoch.year % 100:02d}{day:012.8f}"
    return _checksum(line1[:18] + field + line1[32:]), line2
