"""Area of many small polygons inside one planar region, all at once, by Green's theorem.

The boundary of ``polygon ∩ region`` is the part of the polygon's outline inside the region plus the part of the
region's outline inside the polygon, both walked with the intersection on their left; the area is half the sum of
``a × b`` over its pieces ``a -> b``. Splitting both outlines where they cross, and keeping each run of pieces
between two crossings by a test point just beside its longest piece, gives that boundary exactly for any simple
polygons (convex or not) and any region (holes, islands); pieces the two outlines share are counted once, and an
extra split is harmless. One vectorised pass replaces a GEOS overlay per polygon, whose fixed cost (~20 us)
dominated the contour check. Checked against GEOS in tests/test_science_planar_overlap.py.
"""

from __future__ import annotations

import numpy as np

#: Test points sit this far (times the polygon's size) beside a piece's midpoint, on the side that decides it: far
#: above rounding of the coordinates, far below any piece that matters. It also settles pieces the two outlines share.
SIDE_OFFSET = 1e-8
#: Crossings found this far (in edge parameter) beyond an edge's ends still split it: an extra split is harmless, a
#: missed one is not.
PARAMETER_SLACK = 1e-9


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def oriented_outline_segments(region) -> np.ndarray:
    """The outline of a shapely (multi)polygon as segments ``(m, 2, 2)``, each with the region on its left."""
    import shapely

    polygons = [part for part in shapely.get_parts(region) if part.geom_type == "Polygon" and not part.is_empty]
    segments = []
    for polygon in shapely.orient_polygons(np.asarray(polygons, dtype=object)):  # exteriors CCW, holes CW
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            segments.append(np.stack([xy[:-1], xy[1:]], axis=1))
    return np.concatenate(segments) if segments else np.empty((0, 2, 2))


def areas_inside(outlines: np.ndarray, region, region_segments: np.ndarray, segment_tree=None) -> np.ndarray:
    """Area of each polygon ``outlines[i]`` (``(n, k, 2)``, not closed, either orientation) inside ``region`` (a
    prepared shapely polygon or multipolygon; ``region_segments`` its :func:`oriented_outline_segments`, and
    ``segment_tree`` an ``STRtree`` of them, if one is at hand)."""
    import shapely

    n, k = outlines.shape[:2]
    origin = outlines[:, 0, :]  # each polygon's own origin keeps the products small and exact
    starts = outlines - origin[:, None, :]
    edges = np.roll(starts, -1, axis=1) - starts
    signed_area = _signed_areas(starts)
    turn = np.sign(signed_area)  # +1 for counter-clockwise outlines
    size = np.sqrt(np.abs(signed_area))
    by_axis = np.ascontiguousarray(starts.transpose(0, 2, 1))  # (n, 2, k): reduces faster than along the middle axis
    low, high = by_axis.min(axis=2), by_axis.max(axis=2)

    # pairs (polygon, region segment) whose boxes overlap, in outline order, and where the segment crosses each edge
    if segment_tree is None:
        segment_tree = shapely.STRtree(shapely.linestrings(region_segments))
    polygon_of_pair, segment_of_pair = segment_tree.query(shapely.box(*(origin + low).T, *(origin + high).T))
    by_pair = np.lexsort((segment_of_pair, polygon_of_pair))
    polygon_of_pair, segment_of_pair = polygon_of_pair[by_pair], segment_of_pair[by_pair]
    seg_start = region_segments[segment_of_pair, 0] - origin[polygon_of_pair]
    seg_vector = region_segments[segment_of_pair, 1] - region_segments[segment_of_pair, 0]
    d = edges[polygon_of_pair]  # (p, k, 2)
    w = seg_start[:, None, :] - starts[polygon_of_pair]
    denominator = _cross(d, seg_vector[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _cross(w, seg_vector[:, None, :]) / denominator  # along the polygon edge
        u = _cross(w, d) / denominator  # along the region segment
    lo, hi = -PARAMETER_SLACK, 1 + PARAMETER_SLACK
    pair, edge = np.nonzero((denominator != 0) & (t >= lo) & (t <= hi) & (u >= lo) & (u <= hi))
    crossed = np.zeros(n, dtype=bool)
    crossed[polygon_of_pair[pair]] = True

    # The polygon's outline inside the region. Between two crossings it is all in or all out: one test point per
    # such run, beside its longest piece, just inside the polygon (so a piece the outlines share counts once, here).
    # An outline the region's does not cross is one run.
    whole_edges = np.flatnonzero(crossed)[:, None] * k + np.arange(k)
    first, second, owner, at_crossing = _pieces(
        np.concatenate([np.repeat(whole_edges.ravel(), 2), polygon_of_pair[pair] * k + edge]),
        np.concatenate([np.tile([0.0, 1.0], whole_edges.size), np.clip(t[pair, edge], 0.0, 1.0)]),
        whole_edges.size * 2,
    )
    polygon = owner // k
    p0 = starts.reshape(-1, 2)[owner] + first[:, None] * edges.reshape(-1, 2)[owner]
    p1 = starts.reshape(-1, 2)[owner] + second[:, None] * edges.reshape(-1, 2)[owner]
    run, representative = _runs(at_crossing | _changes(polygon), p1 - p0)
    uncrossed = np.flatnonzero(~crossed)
    probe = np.concatenate(
        [
            origin[polygon[representative]]
            + _beside(
                p0[representative], p1[representative], size[polygon[representative]] * turn[polygon[representative]]
            ),
            origin[uncrossed]
            + _beside(np.zeros((uncrossed.size, 2)), edges[uncrossed, 0], size[uncrossed] * turn[uncrossed]),
        ]
    )
    inside = shapely.contains_xy(region, probe[:, 0], probe[:, 1])
    piece_inside = inside[: representative.size][run]
    area = np.zeros(n)  # (bincount of nothing is of integers)
    area += np.bincount(
        polygon[piece_inside],
        turn[polygon[piece_inside]] * 0.5 * _cross(p0[piece_inside], p1[piece_inside]),
        minlength=n,
    )
    area[uncrossed] += np.where(inside[representative.size :], np.abs(signed_area[uncrossed]), 0.0)

    # The region's outline strictly inside the polygon (both sides of it inside). Along consecutive segments it
    # enters or leaves the polygon only at crossings: one pair of test points per run again.
    first, second, owner, at_crossing = _pieces(
        np.concatenate([np.repeat(np.arange(len(polygon_of_pair)), 2), pair]),
        np.concatenate([np.tile([0.0, 1.0], len(polygon_of_pair)), np.clip(u[pair, edge], 0.0, 1.0)]),
        len(polygon_of_pair) * 2,
    )
    follows = np.ones(len(polygon_of_pair), dtype=bool)  # the pair's segment continues the previous pair's
    follows[1:] = (polygon_of_pair[1:] == polygon_of_pair[:-1]) & (segment_of_pair[1:] == segment_of_pair[:-1] + 1)
    follows &= np.all(region_segments[segment_of_pair, 0] == region_segments[segment_of_pair - 1, 1], axis=1)
    follows[:1] = False
    polygon = polygon_of_pair[owner]
    p0 = seg_start[owner] + first[:, None] * seg_vector[owner]
    p1 = seg_start[owner] + second[:, None] * seg_vector[owner]
    run, representative = _runs(at_crossing | (_changes(owner) & ~follows[owner]), p1 - p0)
    rep_polygon = polygon[representative]
    middle = 0.5 * (p0[representative] + p1[representative])
    candidate = np.flatnonzero(np.all((middle >= low[rep_polygon]) & (middle <= high[rep_polygon]), axis=1))
    for side in (1.0, -1.0):
        probe = _beside(
            p0[representative[candidate]], p1[representative[candidate]], side * size[rep_polygon[candidate]]
        )
        candidate = candidate[_inside(starts[rep_polygon[candidate]], edges[rep_polygon[candidate]], probe)]
    run_inside = np.zeros(representative.size, dtype=bool)
    run_inside[candidate] = True
    piece_inside = run_inside[run]
    area += np.bincount(polygon[piece_inside], 0.5 * _cross(p0[piece_inside], p1[piece_inside]), minlength=n)
    return np.clip(area, 0.0, np.abs(signed_area))


def polygon_areas(outlines: np.ndarray) -> np.ndarray:
    """Area of each polygon ``outlines[i]`` (``(n, k, 2)``, not closed)."""
    return np.abs(_signed_areas(outlines - outlines[:, :1, :]))


def _signed_areas(outlines: np.ndarray) -> np.ndarray:
    """Shoelace area of each polygon, positive when counter-clockwise (best with its vertices near the origin)."""
    return 0.5 * _cross(outlines, np.roll(outlines, -1, axis=1)).sum(axis=1)


def _pieces(
    owner: np.ndarray, parameter: np.ndarray, crossings_from: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive parameter intervals of each owner: ``(start, end, owner, starts at a crossing)`` of every piece;
    entries from index ``crossings_from`` on are crossings."""
    order = np.lexsort((parameter, owner))
    owner, parameter, is_crossing = owner[order], parameter[order], order >= crossings_from
    same = owner[1:] == owner[:-1]
    return parameter[:-1][same], parameter[1:][same], owner[:-1][same], is_crossing[:-1][same]


def _changes(values: np.ndarray) -> np.ndarray:
    """Where a value differs from the one before (the first always does)."""
    changed = np.ones(values.size, dtype=bool)
    changed[1:] = values[1:] != values[:-1]
    return changed


def _runs(starts_run: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run number of each piece (a run begins where ``starts_run``) and, per run, its longest piece."""
    run = np.cumsum(starts_run) - 1
    if run.size == 0:
        return run, run
    length = np.hypot(vectors[:, 0], vectors[:, 1])
    longest = np.maximum.reduceat(length, np.flatnonzero(starts_run))  # runs are contiguous
    candidates = np.flatnonzero(length == longest[run])
    return run, candidates[_changes(run[candidates])]


def _beside(p0: np.ndarray, p1: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The midpoint of each piece moved ``SIDE_OFFSET * offset`` to its left (a negative offset: to its right)."""
    vector = p1 - p0
    length = np.hypot(vector[:, 0], vector[:, 1])
    left = np.column_stack([-vector[:, 1], vector[:, 0]]) / np.where(length > 0, length, 1.0)[:, None]
    return 0.5 * (p0 + p1) + (SIDE_OFFSET * offset)[:, None] * left


def _inside(starts: np.ndarray, edges: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Even-odd test of each point against its own polygon (``starts``/``edges`` ``(m, k, 2)``, points ``(m, 2)``)."""
    x, y = points[:, None, 0], points[:, None, 1]
    ax, ay = starts[..., 0], starts[..., 1]
    by = ay + edges[..., 1]
    straddles = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = ax + (y - ay) * edges[..., 0] / edges[..., 1]
    return np.count_nonzero(straddles & (x < crossing_x), axis=1) % 2 == 1
