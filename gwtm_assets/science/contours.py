"""Credible-region contours of multi-order sky maps as GeoJSON.

The region holding a credible level is the set of densest pixels (as in
``ligo.skymap``); its contour is the boundary of those pixels, traced at an
order fine enough to follow the map but bounded in pixel count, then smoothed
by corner cutting. Working from pixel edges, not a flattened full-resolution
map, keeps the cost proportional to the region instead of the sky.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .skymap import MultiOrderSkyMap, coarsen, credible_levels, order_pixel_area_sr, pixels_at_order

#: healpy.get_all_neighbours order: SW, W, NW, N, NE, E, SE, S.
_EDGE_NEIGHBOURS = (0, 2, 4, 6)
#: healpy.boundaries corners are N, W, S, E; edge shared with each edge neighbour,
#: directed so that every pixel is walked N -> W -> S -> E -> N.
_EDGE_CORNERS = ((1, 2), (0, 1), (3, 0), (2, 3))
_VERTEX_DECIMALS = 9


def contour_order(sky: MultiOrderSkyMap, area_deg2: float, max_pixels: int = 200_000) -> int:
    """Finest order, at most the map's own, at which a region of ``area_deg2`` has <= ``max_pixels`` pixels."""
    order = sky.max_order
    pixel_deg2 = order_pixel_area_sr(order) * (180 / np.pi) ** 2
    while order > 3 and area_deg2 / pixel_deg2 > max_pixels:
        order -= 1
        pixel_deg2 *= 4
    return order


def credible_region_pixels(sky: MultiOrderSkyMap, level: float, order: int) -> np.ndarray:
    """Sorted NESTED indices at ``order`` of the smallest region holding ``level`` of the probability."""
    coarse = coarsen(sky, order)
    levels = credible_levels(coarse)
    inside = levels <= level
    # Include the pixel that crosses the level, so the region holds at least ``level``.
    if not inside.all():
        inside |= levels == levels[~inside].min()
    return pixels_at_order(coarse.uniq[inside], order)


def boundary_rings(order: int, pixels: np.ndarray) -> list[np.ndarray]:
    """Closed rings (unit vectors, shape (n, 3), first != last) bounding a set of NESTED pixels.

    Rings of the outer boundary and of holes are returned alike; the region
    is the area enclosed by an odd number of them.
    """
    nside = 1 << order
    pixels = np.asarray(pixels, dtype=np.int64)
    if pixels.size == 0:
        return []
    import healpy as hp  # deferred: healpy imports matplotlib (~1 s), which a run's first assets never need

    neighbours = hp.get_all_neighbours(nside, pixels, nest=True)[list(_EDGE_NEIGHBOURS)]
    pos = np.searchsorted(pixels, neighbours).clip(max=pixels.size - 1)
    outside = pixels[pos] != neighbours
    if not outside.any():
        return []  # the whole sky
    edge_kind, which = np.nonzero(outside)
    border_pixels = np.unique(which)
    corners = hp.boundaries(nside, pixels[border_pixels], step=1, nest=True)  # (n, 3, 4)
    corners = np.moveaxis(np.atleast_3d(corners), 1, 2).reshape(-1, 3)  # (n*4, 3)
    vertex_ids, inverse = np.unique(np.round(corners, _VERTEX_DECIMALS), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1, 4)
    row = np.searchsorted(border_pixels, which)
    pairs = np.asarray(_EDGE_CORNERS)[edge_kind]
    starts = inverse[row, pairs[:, 0]]
    ends = inverse[row, pairs[:, 1]]
    positions = np.zeros((vertex_ids.shape[0], 3))
    positions[inverse.ravel()] = corners
    return [positions[ring] for ring in _chain_edges(starts, ends)]


def _chain_edges(starts: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
    """Link directed edges (start -> end vertex ids) into closed rings."""
    outgoing: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(starts.tolist()):
        outgoing[s].append(i)
    used = np.zeros(starts.size, dtype=bool)
    ends_list = ends.tolist()
    rings = []
    for first in range(starts.size):
        if used[first]:
            continue
        ring = []
        edge = first
        while not used[edge]:
            used[edge] = True
            ring.append(int(starts[edge]))
            candidates = [e for e in outgoing[ends_list[edge]] if not used[e]]
            if not candidates:
                break
            edge = candidates[0]
        rings.append(np.asarray(ring))
    return rings


def smooth_ring(ring: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Chaikin corner cutting of a closed ring of unit vectors, renormalised to the sphere.

    Cutting the convex and concave corners of a pixel staircase alike leaves
    the enclosed area (and so probability) nearly unchanged.
    """
    for _ in range(iterations):
        nxt = np.roll(ring, -1, axis=0)
        ring = np.stack([0.75 * ring + 0.25 * nxt, 0.25 * ring + 0.75 * nxt], axis=1).reshape(-1, 3)
    return ring / np.linalg.norm(ring, axis=1, keepdims=True)


def simplify_collinear(ring: np.ndarray, tolerance_rad: float) -> np.ndarray:
    """Drop vertices that lie within ``tolerance_rad`` of the great circle through their neighbours."""
    prev = np.roll(ring, 1, axis=0)
    nxt = np.roll(ring, -1, axis=0)
    normal = np.cross(prev, nxt)
    norm = np.linalg.norm(normal, axis=1)
    distance = np.abs(np.einsum("ij,ij->i", ring, normal)) / np.where(norm > 0, norm, 1.0)
    keep = (distance > tolerance_rad) | (norm == 0)
    keep[::16] = True  # never drop long runs entirely, so the next pass still sees neighbours
    return ring[keep]


def ring_to_lonlat(ring: np.ndarray) -> list[list[float]]:
    """A closed GeoJSON ring ([[ra, dec], ...] in degrees, first point repeated last)."""
    import healpy as hp

    ra, dec = hp.vec2ang(ring, lonlat=True)
    coords = np.round(np.column_stack([ra, dec]), 5).tolist()
    return coords + coords[:1]


def contours_geojson(
    sky: MultiOrderSkyMap,
    levels: tuple[float, ...] = (0.5, 0.9),
    areas_deg2: tuple[float, ...] | None = None,
    max_pixels: int = 200_000,
    smoothing: int = 2,
) -> dict:
    """GeoJSON FeatureCollection with one MultiLineString feature per credible level.

    ``properties.credible_level`` is the level in percent (50, 90); each line
    is a closed ring of [ra, dec] in degrees.
    """
    if areas_deg2 is None:
        from .skymap import credible_areas_deg2

        areas_deg2 = tuple(credible_areas_deg2(sky, levels))
    features = []
    for level, area in zip(levels, areas_deg2, strict=True):
        order = contour_order(sky, area, max_pixels)
        rings = boundary_rings(order, credible_region_pixels(sky, level, order))
        pixel_size_rad = np.sqrt(order_pixel_area_sr(order))
        lines = []
        for ring in rings:
            smooth = smooth_ring(ring, smoothing)
            lines.append(ring_to_lonlat(simplify_collinear(smooth, 1e-3 * pixel_size_rad)))
        features.append(
            {
                "type": "Feature",
                "properties": {"credible_level": round(100 * level), "healpix_order": order},
                "geometry": {"type": "MultiLineString", "coordinates": lines},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def probability_inside_rings(sky: MultiOrderSkyMap, rings_lonlat: list[list[list[float]]], depth: int = 12) -> float:
    """Probability of ``sky`` inside closed [ra, dec] rings, integrated independently with ``mocpy``.

    Each ring is rasterised as a spherical polygon at ``depth``; the region is
    the symmetric difference of the rings (holes subtract). A check of the
    contours, not used to make them.
    """
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from astropy.table import Table
    from mocpy import MOC

    region = None
    for ring in rings_lonlat:
        points = np.asarray(ring[:-1], dtype=float)
        polygon = MOC.from_polygon(Longitude(points[:, 0] * u.deg), Latitude(points[:, 1] * u.deg), max_depth=depth)
        region = polygon if region is None else region.symmetric_difference(polygon)
    if region is None:
        return 0.0
    return float(region.probability_in_multiordermap(Table({"UNIQ": sky.uniq, "PROBDENSITY": sky.probdensity})))
