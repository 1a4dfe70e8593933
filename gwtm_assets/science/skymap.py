"""Multi-order HEALPix sky maps: decoding, credible regions and summary statistics.

All functions are pure and vectorised; they know nothing of Dagster or storage.
Pixel indices are NUNIQ (``uniq = 4 * 4**order + ipix``, NESTED ``ipix``),
probability densities are per steradian, areas are in square degrees unless the
name says otherwise.
"""

from __future__ import annotations

import base64
import io
import zlib
from dataclasses import dataclass, field

import numpy as np
from isal import igzip, isal_zlib

from .fits_table import UnsupportedFITS, read_bintable

SR_TO_DEG2 = float(np.square(180.0 / np.pi))
FULL_SKY_DEG2 = 4.0 * np.pi * SR_TO_DEG2
DISTANCE_COLUMNS = ("DISTMU", "DISTSIGMA", "DISTNORM")


class SkymapError(ValueError):
    """A sky map could not be decoded or is not a valid probability map."""


@dataclass(frozen=True)
class MultiOrderSkyMap:
    """A multi-order sky map (the layout LIGO/Virgo/KAGRA alerts carry).

    Attributes
    ----------
    uniq : int64 array
        NUNIQ index of each pixel.
    probdensity : float64 array
        Probability density per steradian.
    distance : dict of column name to float64 array
        ``DISTMU``/``DISTSIGMA`` (Mpc) and ``DISTNORM`` (Mpc^-2), empty when the
        map has no distance layers.
    header : dict
        The FITS header cards of the table HDU (``DATE-OBS``, ``DISTMEAN``...).
    """

    uniq: np.ndarray
    probdensity: np.ndarray
    distance: dict[str, np.ndarray] = field(default_factory=dict)
    header: dict[str, object] = field(default_factory=dict)

    @property
    def order(self) -> np.ndarray:
        return uniq_to_order_ipix(self.uniq)[0]

    @property
    def max_order(self) -> int:
        return int(self.order.max())

    @property
    def pixel_area_sr(self) -> np.ndarray:
        return order_pixel_area_sr(self.order)

    @property
    def probability(self) -> np.ndarray:
        """Probability held by each pixel (dimensionless)."""
        return self.probdensity * self.pixel_area_sr

    @property
    def has_distance(self) -> bool:
        return bool(self.distance)


@dataclass(frozen=True)
class SkymapStatistics:
    """Summary of a sky map as posted to the GWTM API.

    Areas in deg^2, position in degrees (ICRS), distances in Mpc.
    """

    area_50: float
    area_90: float
    ra: float
    dec: float
    distance: float | None
    distance_error: float | None
    time_of_signal: str | None
    date_created: str | None
    max_order: int
    total_probability: float


def uniq_to_order_ipix(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split NUNIQ indices into (order, NESTED ipix), both int64."""
    uniq = np.asarray(uniq, dtype=np.int64)
    # floor(log2(uniq)) / 2 - 1, computed exactly on integers.
    order = (np.frexp(uniq.astype(np.float64))[1] - 1) // 2 - 1
    order = order.astype(np.int64)
    ipix = uniq - (np.int64(4) << (2 * order))
    return order, ipix


def order_ipix_to_uniq(order: np.ndarray | int, ipix: np.ndarray) -> np.ndarray:
    """NUNIQ index of NESTED pixels ``ipix`` at ``order``."""
    order = np.asarray(order, dtype=np.int64)
    return (np.int64(4) << (2 * order)) + np.asarray(ipix, dtype=np.int64)


def order_pixel_area_sr(order: np.ndarray | int) -> np.ndarray:
    """Area of one HEALPix pixel at ``order``, in steradians."""
    return 4.0 * np.pi / (12.0 * np.exp2(2.0 * np.asarray(order, dtype=np.float64)))


def nside_to_order(nside: int) -> int:
    order = int(nside).bit_length() - 1
    if nside <= 0 or (1 << order) != nside:
        raise SkymapError(f"nside must be a power of two, got {nside}")
    return order


#: The largest sky map accepted, uncompressed: O4 multi-order maps are ~0.5-3 MB; a gzip bomb is refused.
MAX_SKYMAP_BYTES = 64_000_000


def gunzip_bounded(data: bytes, limit: int = MAX_SKYMAP_BYTES) -> bytes:
    """gzip-decompress ``data``, refusing output over ``limit`` bytes before it is held in memory."""
    decompressor = zlib.decompressobj(wbits=GZIP_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SkymapError(f"sky map is not valid gzip: {exc}") from exc
    if len(out) > limit:
        raise SkymapError(f"sky map decompresses to over {limit:,} bytes; refused")
    return out


def decode_notice_skymap(skymap_b64: str) -> bytes:
    """Decode the base64 ``skymap`` field of an igwn.gwalert notice into FITS bytes."""
    try:
        return base64.b64decode(skymap_b64, validate=True)
    except (ValueError, TypeError) as exc:
        raise SkymapError(f"sky map is not valid base64: {exc}") from exc


def read_multiorder_fits(data: bytes) -> MultiOrderSkyMap:
    """Read a multi-order FITS sky map (plain or gzip-compressed bytes)."""
    if data[:2] == b"\x1f\x8b":
        data = gunzip_bounded(data)
    try:
        header, columns = read_bintable(data)
    except UnsupportedFITS:
        header, columns = _read_bintable_with_astropy(data)
    if not {"UNIQ", "PROBDENSITY"} <= columns.keys():
        raise SkymapError(f"sky map lacks UNIQ/PROBDENSITY columns (has {sorted(columns)})")
    uniq = np.asarray(columns["UNIQ"], dtype=np.int64)
    probdensity = np.asarray(columns["PROBDENSITY"], dtype=np.float64)
    distance = (
        {c: np.asarray(columns[c], dtype=np.float64) for c in DISTANCE_COLUMNS}
        if set(DISTANCE_COLUMNS) <= columns.keys()
        else {}
    )
    sky = MultiOrderSkyMap(uniq=uniq, probdensity=probdensity, distance=distance, header=header)
    _check_probability(sky)
    return sky


def _read_bintable_with_astropy(data: bytes) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """What ``read_bintable`` leaves to astropy (scaled columns, unusual layouts)."""
    from astropy.io import fits

    try:
        with fits.open(io.BytesIO(data), memmap=False) as hdus:
            if len(hdus) < 2:
                raise SkymapError("sky map FITS has no table extension")
            header = {k: v for k, v in hdus[1].header.items() if k not in ("COMMENT", "HISTORY", "")}
            return header, {name: np.asarray(hdus[1].data[name]) for name in hdus[1].data.names}
    except OSError as exc:
        raise SkymapError(f"sky map is not a readable FITS file: {exc}") from exc


def _check_probability(sky: MultiOrderSkyMap) -> None:
    if sky.uniq.size == 0:
        raise SkymapError("sky map has no pixels")
    if np.any(sky.uniq < 4):
        raise SkymapError("sky map has invalid UNIQ indices (< 4)")
    if not np.all(np.isfinite(sky.probdensity)) or np.any(sky.probdensity < 0):
        raise SkymapError("sky map has negative or non-finite probability density")
    area_sr = float(np.sum(sky.pixel_area_sr))
    if not np.isclose(area_sr, 4 * np.pi, rtol=1e-6):
        raise SkymapError(f"sky map pixels cover {area_sr / (4 * np.pi):.6f} of the sky, not all of it")
    total = float(np.sum(sky.probability))
    if not np.isclose(total, 1.0, atol=1e-3):
        raise SkymapError(f"sky map probability sums to {total:.6f}, not 1")


def greedy_order(sky: MultiOrderSkyMap) -> np.ndarray:
    """Indices of pixels sorted by descending probability density (stable)."""
    return np.argsort(-sky.probdensity, kind="stable")


def credible_levels(sky: MultiOrderSkyMap) -> np.ndarray:
    """Greedy credible level of each pixel: the probability of all denser pixels plus its own."""
    order = greedy_order(sky)
    levels = np.empty_like(sky.probdensity)
    levels[order] = np.cumsum(sky.probability[order])
    return levels


def credible_areas_deg2(sky: MultiOrderSkyMap, levels: tuple[float, ...] = (0.5, 0.9)) -> np.ndarray:
    """Area (deg^2) of the smallest regions holding ``levels`` of the probability.

    Interpolates within the last pixel exactly as
    ``ligo.skymap.postprocess.crossmatch`` does.
    """
    order = greedy_order(sky)
    area = sky.pixel_area_sr[order]
    cum_prob = np.cumsum(area * sky.probdensity[order])
    cum_area = np.cumsum(area) * SR_TO_DEG2
    return np.interp(np.asarray(levels), np.pad(cum_prob, (1, 0)), np.pad(cum_area, (1, 0)), right=FULL_SKY_DEG2)


#: Ring and longitude offsets of the 12 base pixels (HEALPix, Gorski et al. 2005).
_FACE_RING = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4])
_FACE_LON = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7])


def _compact_bits(value: np.ndarray) -> np.ndarray:
    """The even bits of ``value`` packed together (undoes the NESTED bit interleaving)."""
    out = np.zeros_like(value)
    for bit in range(30):
        out |= ((value >> (2 * bit)) & 1) << bit
    return out


def nest_pixel_centres_deg(order: int, ipix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RA, Dec) in degrees of the centres of NESTED pixels ``ipix`` at ``order``.

    The HEALPix ``pix2ang`` for NESTED indices in numpy, so the statistics a
    run posts first do not import healpy (which imports matplotlib: ~1 s).
    """
    ipix = np.asarray(ipix, dtype=np.int64)
    nside = 1 << order
    face, within = np.divmod(ipix, nside * nside)
    ix, iy = _compact_bits(within), _compact_bits(within >> 1)
    jr = _FACE_RING[face] * nside - ix - iy - 1
    north, south = jr < nside, jr > 3 * nside
    nr = np.where(north, jr, np.where(south, 4 * nside - jr, nside))
    fact2 = 4.0 / (12 * nside * nside)
    z = np.where(north, 1 - nr * nr * fact2, np.where(south, nr * nr * fact2 - 1, (2 * nside - jr) * 2 * nside * fact2))
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    jp = (_FACE_LON[face] * nr + ix - iy + 1 + kshift) // 2
    jp = np.where(jp > 4 * nside, jp - 4 * nside, np.where(jp < 1, jp + 4 * nside, jp))
    phi = (jp - (kshift + 1) * 0.5) * (np.pi / 2 / nr)
    return np.degrees(phi) % 360.0, np.degrees(np.arcsin(np.clip(z, -1, 1)))


def pixel_centres_deg(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RA, Dec) in degrees of the centres of NUNIQ pixels."""
    order, ipix = uniq_to_order_ipix(uniq)
    ra = np.empty(order.shape)
    dec = np.empty(order.shape)
    for o in np.unique(order):
        sel = order == o
        ra[sel], dec[sel] = nest_pixel_centres_deg(int(o), ipix[sel])
    return ra, dec


def most_probable_position_deg(sky: MultiOrderSkyMap) -> tuple[float, float]:
    """(RA, Dec) in degrees of the centre of the pixel of highest probability density."""
    i = int(np.argmax(sky.probdensity))
    ra, dec = pixel_centres_deg(sky.uniq[i : i + 1])
    return float(ra[0]), float(dec[0])


def _header_float(header: dict[str, object], key: str) -> float | None:
    value = header.get(key)
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def skymap_statistics(sky: MultiOrderSkyMap) -> SkymapStatistics:
    """Credible areas, most probable position and distance of a sky map."""
    area_50, area_90 = credible_areas_deg2(sky, (0.5, 0.9))
    ra, dec = most_probable_position_deg(sky)
    return SkymapStatistics(
        area_50=float(area_50),
        area_90=float(area_90),
        ra=ra,
        dec=dec,
        distance=_header_float(sky.header, "DISTMEAN"),
        distance_error=_header_float(sky.header, "DISTSTD"),
        time_of_signal=_header_str(sky.header, "DATE-OBS"),
        date_created=_header_str(sky.header, "DATE"),
        max_order=sky.max_order,
        total_probability=float(np.sum(sky.probability)),
    )


def _header_str(header: dict[str, object], key: str) -> str | None:
    value = header.get(key)
    return str(value) if value not in (None, "") else None


def coarsen(sky: MultiOrderSkyMap, order: int) -> MultiOrderSkyMap:
    """Merge every pixel finer than ``order`` into its parent at ``order``.

    Probability is conserved; distance layers are averaged over the merged
    children as ``ligo.skymap.moc.rasterize`` does.
    """
    orders, ipix = uniq_to_order_ipix(sky.uniq)
    fine = orders > order
    if not np.any(fine):
        return sky
    shift = 2 * (orders[fine] - order)
    parent_uniq = order_ipix_to_uniq(order, ipix[fine] >> shift)
    weight = 1.0 / np.exp2(shift)
    parents, inverse = np.unique(parent_uniq, return_inverse=True)

    def merge(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[~fine], np.bincount(inverse, weight * values[fine], minlength=parents.size)])

    return MultiOrderSkyMap(
        uniq=np.concatenate([sky.uniq[~fine], parents]),
        probdensity=merge(sky.probdensity),
        distance={k: merge(v) for k, v in sky.distance.items()},
        header=sky.header,
    )


def ranges_at_order(uniq: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The NESTED ranges at ``order`` covered by pixels no finer than ``order``.

    Returns ``(by_start, start, count)``: the permutation sorting the pixels by
    their first child at ``order``, and in that order each pixel's first child
    and number of children. Disjoint pixels sorted this way cover their
    children in ascending order, so ``np.repeat(values[by_start], count)``
    lays values out without a scatter.
    """
    orders, ipix = uniq_to_order_ipix(uniq)
    count = np.int64(1) << (2 * (order - orders))
    start = ipix * count
    by_start = np.argsort(start, kind="stable")
    return by_start, start[by_start], count[by_start]


def pixels_at_order(uniq: np.ndarray, order: int) -> np.ndarray:
    """Sorted NESTED indices at ``order`` of the area covered by disjoint pixels no finer than ``order``."""
    _, start, count = ranges_at_order(uniq, order)
    return np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))


def rasterize(sky: MultiOrderSkyMap, order: int) -> dict[str, np.ndarray]:
    """Flat NESTED HEALPix arrays at ``order`` (``nside = 2**order``).

    Returns ``PROB`` (probability per pixel, sums to 1) and, when the map has
    them, ``DISTMU``, ``DISTSIGMA`` (Mpc) and ``DISTNORM`` (Mpc^-2). Pixels
    finer than ``order`` are merged as ``ligo.skymap.moc.rasterize`` does.
    """
    cells, count = cells_at_order(sky, order)
    return {name: np.repeat(values, count) for name, values in cells.items()}


def cells_at_order(sky: MultiOrderSkyMap, order: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The map's cells no finer than ``order``, in NESTED order: their ``PROB`` (per pixel at ``order``) and distance
    layers, and how many pixels at ``order`` each covers (``np.repeat(values, count)`` is the flat map)."""
    coarse = coarsen(sky, order)
    by_start, start, count = ranges_at_order(coarse.uniq, order)
    npix = 12 * (1 << (2 * order))
    if int(count.sum()) != npix or np.any(np.diff(start) != count[:-1]):
        raise SkymapError(f"sky map pixels do not tile the sky at order {order}")
    pixel_area = float(order_pixel_area_sr(order))
    cells = {"PROB": coarse.probdensity[by_start] * pixel_area}
    for name, values in coarse.distance.items():
        cells[name] = values[by_start]
    return cells, count


def _cells_of_rows(cell_end: np.ndarray, count: np.ndarray, first_row: int, end_row: int) -> np.ndarray:
    """For each flat-map row in ``[first_row, end_row)``, the index of the cell covering it (``cell_end`` is
    ``np.cumsum(count)``)."""
    first = int(np.searchsorted(cell_end, first_row, side="right"))
    last = int(np.searchsorted(cell_end, end_row - 1, side="right"))
    cells = np.arange(first, last + 1)
    rows_in_block = np.minimum(cell_end[cells], end_row) - np.maximum(cell_end[cells] - count[cells], first_row)
    return np.repeat(cells, rows_in_block)


FLAT_UNITS = {"PROB": "pix-1", "DISTMU": "Mpc", "DISTSIGMA": "Mpc", "DISTNORM": "Mpc-2"}
COPIED_HEADER_KEYS = ("OBJECT", "DATE-OBS", "MJD-OBS", "DATE", "CREATOR", "ORIGIN", "DISTMEAN", "DISTSTD")
FITS_BLOCK = 2880
#: zlib window bits selecting a gzip container (header with no name and mtime 0).
GZIP_WBITS = 31


#: Rows of the flat map interleaved and compressed at a time (1.8 MB with the distance layers).
FLAT_ROWS_PER_BLOCK = 1 << 16


@dataclass(frozen=True)
class FlatMap:
    """A flat map as written: the gzip FITS bytes, its nside and its ``PROB`` column (the buffer compressed)."""

    fits_gz: bytes
    nside: int
    prob: np.ndarray


def flat_fits_bytes(sky: MultiOrderSkyMap, nside: int = 512) -> tuple[bytes, int]:
    """A gzip FITS flat HEALPix map (NESTED) readable by ``healpy.read_map``, and the nside used."""
    flat = flat_map(sky, nside)
    return flat.fits_gz, flat.nside


def flat_map(sky: MultiOrderSkyMap, nside: int = 512) -> FlatMap:
    """A gzip FITS flat HEALPix map (NESTED) readable by ``healpy.read_map``.

    The resolution is ``nside`` but never finer than the map itself.
    """
    order = min(nside_to_order(nside), sky.max_order)
    cells, count = cells_at_order(sky, order)
    npix = 12 * (1 << (2 * order))
    # PROB in float32 (7 significant digits, as healpy writes maps); distance
    # layers in float64 because DISTNORM exceeds float32's range in the tails.
    row = np.dtype([(name, ">f4" if name == "PROB" else ">f8") for name in cells])
    # Astropy's table writer copies and scales each column (about 0.5 s for
    # nside 512); the header comes from astropy, the data is the rows' bytes.
    from astropy.io import fits  # deferred: ~0.4 s to import, not needed before a run posts its record

    header = fits.BinTableHDU(data=np.zeros(1, dtype=row)).header
    header["NAXIS2"] = npix
    for i, name in enumerate(cells, start=1):
        header[f"TUNIT{i}"] = FLAT_UNITS[name]
    header["PIXTYPE"] = ("HEALPIX", "HEALPIX pixelisation")
    header["ORDERING"] = ("NESTED", "Pixel ordering scheme: RING, NESTED, or NUNIQ")
    header["COORDSYS"] = ("C", "Ecliptic, Galactic or Celestial (equatorial)")
    header["NSIDE"] = (1 << order, "Resolution parameter of HEALPIX")
    header["INDXSCHM"] = ("IMPLICIT", "Indexing: IMPLICIT or EXPLICIT")
    header["FIRSTPIX"] = 0
    header["LASTPIX"] = npix - 1
    for key in COPIED_HEADER_KEYS:
        if key in sky.header:
            header[key] = sky.header[key]
    # Header, rows and padding through one gzip compressor, the rows a block at a time, each laid out from the cells
    # covering it: neither the table (88 MB at nside 512) nor the flat columns (100 MB) ever exist, and each block
    # is interleaved while it is in the cache.
    compressor = isal_zlib.compressobj(0, isal_zlib.DEFLATED, GZIP_WBITS)
    pieces = [
        compressor.compress(fits.PrimaryHDU().header.tostring().encode("ascii")),
        compressor.compress(header.tostring().encode("ascii")),
    ]
    block = np.empty(min(npix, FLAT_ROWS_PER_BLOCK), dtype=row)
    cell_end = np.cumsum(count)
    prob = np.empty(npix, dtype=">f4")  # as written (float32), for the check without a read-back
    for start in range(0, npix, block.size):
        rows = block[: min(block.size, npix - start)]
        covering = _cells_of_rows(cell_end, count, start, start + rows.size)
        for name, values in cells.items():
            rows[name] = values[covering]
        prob[start : start + rows.size] = rows["PROB"]
        pieces.append(compressor.compress(memoryview(rows).cast("B")))  # type: ignore[arg-type]  # numpy buffers
    pieces += [compressor.compress(b"\0" * (-npix * row.itemsize % FITS_BLOCK)), compressor.flush()]
    return FlatMap(b"".join(pieces), 1 << order, prob)


def gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` quickly and deterministically (no timestamp); gzip input is returned as is."""
    if data[:2] == b"\x1f\x8b":
        return data
    # ISA-L level 0 compresses sky maps (mostly smooth floats) ~40x faster than
    # zlib level 6, to a comparable size.
    return igzip.compress(data, compresslevel=0, mtime=0)
