"""Probability of a multi-order sky map inside closed [ra, dec] rings, cell by cell at the map's own orders.

A check of the contours (``contours.py``), sharing none of their code. The rings are drawn on a Lambert azimuthal
equal-area projection centred on the region, where areas are the sphere's (steradians), so the probability a cell
holds inside the rings is its density times the share of its outline inside the rings' polygon. Cells beyond the
rings' bounding cap are outside; cells whose outline no ring touches are wholly in or out, decided by their centre;
only the cells a ring crosses are clipped, exactly (``planar_overlap.py``). The region is what an odd number of
rings enclose (holes subtract). No rasterisation, no depth to choose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .planar_overlap import areas_inside, oriented_outline_segments, polygon_areas
from .skymap import MultiOrderSkyMap, uniq_to_order_ipix

#: Points traced along each edge of an order-``EDGE_STEPS_ORDER`` cell's outline (HEALPix edges are curves; other
#: orders: ``edge_steps``). The chords miss the slivers between them and the curved edge, a share of the cell
#: falling as (curvature x edge length) / steps^2; neighbours of one order share their chords, so the error is where
#: orders meet and a ring crosses such a sliver: under 2e-5 of the probability of a 40 deg cap
#: (tests/test_science_enclosed.py).
CELL_EDGE_STEPS = 4
EDGE_STEPS_ORDER = 4
#: Margin over a cell's reach (healpy's ``max_pixrad`` times the projection's largest stretch there) when deciding
#: that the rings cannot touch it: the stretch varies across a cell by far less.
NEAR_MARGIN = 1.1
#: Largest distance between the points along the rings used to find the cells near them (projected units, ~ rad).
OUTLINE_SPACING = 5e-4
#: A ring vertex this far from the projection centre (cosine) would be distorted too much: refuse.
MIN_CENTRE_COSINE = -0.9


def _densified(ring: np.ndarray, spacing: float) -> np.ndarray:
    """The closed ring's vertices with points added along every edge longer than ``spacing``."""
    following = np.roll(ring, -1, axis=0)
    pieces = np.maximum(np.ceil(np.hypot(*(following - ring).T) / spacing).astype(np.int64), 1)
    start = np.repeat(ring, pieces, axis=0)
    step = np.repeat((following - ring) / pieces[:, None], pieces, axis=0)
    offset = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return start + step * offset[:, None]


class EnclosedProbabilityError(ValueError):
    """The rings cannot be integrated (degenerate, or spread over nearly the whole sphere)."""


def _unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


class _EqualAreaProjection:
    """Lambert azimuthal equal-area projection of the unit sphere about ``centre`` (radius 2 disc)."""

    def __init__(self, centre: np.ndarray) -> None:
        self.centre = centre / np.linalg.norm(centre)
        helper = np.array([0.0, 0.0, 1.0]) if abs(self.centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        self.east = np.cross(helper, self.centre)
        self.east /= np.linalg.norm(self.east)
        self.north = np.cross(self.centre, self.east)

    def cosine(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.centre

    def __call__(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = self.max_linear_scale(vectors)
        return scale * (vectors @ self.east), scale * (vectors @ self.north)

    def max_linear_scale(self, vectors: np.ndarray) -> np.ndarray:
        """The projection's factor ``k`` at each point, also its largest stretch of lengths there (tangential ``k``;
        radial ``1/k`` <= 1 never exceeds it)."""
        return np.sqrt(2.0 / np.maximum(1.0 + self.cosine(vectors), 1e-12))


def probability_in_rings(sky: MultiOrderSkyMap, rings_lonlat: Sequence[Sequence[Sequence[float]]]) -> float:
    """Probability of ``sky`` inside the closed rings (GeoJSON ``[ra, dec]`` degrees, first point repeated)."""
    # deferred, as healpy is in contours.py: a run's first assets (the record) never need them; the warm pool
    # preloads them (runtime/run_workers.py)
    import healpy as hp
    import shapely
    from scipy.spatial import cKDTree

    rings = [np.asarray(ring, dtype=np.float64)[:-1] for ring in rings_lonlat if len(ring) >= 4]
    if not rings:
        return 0.0
    vertices = [_unit_vectors(ring[:, 0], ring[:, 1]) for ring in rings]
    every = np.concatenate(vertices)
    centre = every.sum(axis=0)
    if np.linalg.norm(centre) < 1e-6 * len(every):
        raise EnclosedProbabilityError("the rings surround no single side of the sphere")
    projection = _EqualAreaProjection(centre)
    farthest_cosine = float(projection.cosine(every).min())
    if farthest_cosine < MIN_CENTRE_COSINE:
        raise EnclosedProbabilityError("the rings reach the far side of the sphere from their centre")

    region = None
    projected = []
    for ring in vertices:
        x, y = projection(ring)
        projected.append(np.column_stack([x, y]))
        polygon = shapely.make_valid(shapely.Polygon(projected[-1]))
        region = polygon if region is None else shapely.symmetric_difference(region, polygon)
    assert region is not None
    shapely.prepare(region)
    region_segments = oriented_outline_segments(region)
    segment_tree = shapely.STRtree(shapely.linestrings(region_segments))
    # Distance to the rings from points along them: a point is farther than (distance to the nearest of them -
    # half their spacing) from every edge. Long edges are split so that the spacing stays small. Split at midpoints,
    # not medians: the points lie along curves, where scipy's balanced build costs several times its queries.
    vertex_tree = cKDTree(
        np.concatenate([_densified(r, OUTLINE_SPACING) for r in projected]), balanced_tree=False, compact_nodes=False
    )

    # Every ring lies within this angle of the centre: a cell farther than that plus its own radius is outside.
    region_radius_rad = float(np.arccos(max(farthest_cosine, -1.0)))
    order, ipix = uniq_to_order_ipix(sky.uniq)
    cell_area_sr = 4 * np.pi / (12 * 4.0 ** order.astype(np.float64))
    inside_sr = np.zeros(len(sky.uniq))
    for level in np.unique(order).tolist():
        nside = 1 << level
        cell_radius_rad = float(hp.max_pixrad(nside))
        at = np.flatnonzero(order == level)
        centres = np.column_stack(hp.pix2vec(nside, ipix[at], nest=True))
        candidate = projection.cosine(centres) >= np.cos(min(np.pi, region_radius_rad + cell_radius_rad))
        at, centres = at[candidate], centres[candidate]
        if at.size == 0:
            continue
        x, y = projection(centres)
        # how far the cell reaches from its centre, in the projection (which stretches lengths by at most k)
        reach = NEAR_MARGIN * cell_radius_rad * projection.max_linear_scale(centres)
        distance, _ = vertex_tree.query(
            np.column_stack([x, y]), distance_upper_bound=float(reach.max()) + OUTLINE_SPACING
        )
        clearance = distance - OUTLINE_SPACING / 2  # no ring comes closer to the centre than this
        near = np.flatnonzero(clearance < reach)
        # the outlines themselves: a ring farther from the centre than every point of one cannot cross it
        outlines = _outlines(level, ipix[at[near]], projection)
        radius = np.max(np.hypot(outlines[..., 0] - x[near, None], outlines[..., 1] - y[near, None]), axis=1)
        near, outlines = near[clearance[near] < radius], outlines[clearance[near] < radius]
        far = np.ones(at.size, dtype=bool)
        far[near] = False
        inside_sr[at[far]] = cell_area_sr[at[far]] * shapely.contains_xy(region, x[far], y[far])
        if near.size:
            inside = areas_inside(outlines, region, region_segments, segment_tree)
            inside_sr[at[near]] = cell_area_sr[at[near]] * inside / polygon_areas(outlines)
    return float(np.sum(sky.probdensity * inside_sr))


def edge_steps(order: int) -> int:
    """Points along each edge of a cell at ``order``: the fewest that keep its chords' error, as a share of the cell
    (~ edge length / steps^2), within that of an order-``EDGE_STEPS_ORDER`` cell with ``CELL_EDGE_STEPS``.

    6 at order 3, 4 at order 4, 3 at order 5, 2 at orders 6 and 7, 1 (the corners) from order 8 on: the fine cells
    along a ring, most of those clipped, cost a quarter of what 16 points each did.
    """
    return max(1, math.ceil(CELL_EDGE_STEPS * 2.0 ** ((EDGE_STEPS_ORDER - order) / 2) - 1e-9))


def _outlines(order: int, ipix: np.ndarray, projection: _EqualAreaProjection) -> np.ndarray:
    """The projected outlines of cells, ``(n, 4 * edge_steps(order), 2)``. The projection keeps areas, so the share
    of a cell inside the rings is the share of its outline inside their polygon."""
    import healpy as hp

    corners = hp.boundaries(1 << order, ipix, step=edge_steps(order), nest=True)  # (n, 3, 4 * steps)
    corners = np.atleast_3d(corners).transpose(0, 2, 1)  # (n, 4 * steps, 3)
    cx, cy = projection(corners.reshape(-1, 3))
    return np.stack([cx, cy], axis=-1).reshape(corners.shape[0], corners.shape[1], 2)
