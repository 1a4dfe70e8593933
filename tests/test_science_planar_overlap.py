"""The contour check's planar clipping (science/planar_overlap.py) against GEOS overlays (shapely), case by case."""

import numpy as np
import pytest
import shapely

from gwtm_assets.science.planar_overlap import areas_inside, oriented_outline_segments, polygon_areas


def geos_areas(outlines: np.ndarray, region) -> np.ndarray:
    return shapely.area(shapely.intersection(shapely.polygons(outlines), region))


def ours(outlines: np.ndarray, region) -> np.ndarray:
    shapely.prepare(region)
    return areas_inside(outlines, region, oriented_outline_segments(region))


def unit_square(x: float, y: float, steps: int = 4) -> np.ndarray:
    """A unit square with ``steps`` points along each edge (as a cell outline has), counter-clockwise."""
    t = np.arange(steps) / steps
    return np.concatenate(
        [
            np.column_stack([x + t, np.full(steps, y)]),
            np.column_stack([np.full(steps, x + 1), y + t]),
            np.column_stack([x + 1 - t, np.full(steps, y + 1)]),
            np.column_stack([np.full(steps, x), y + 1 - t]),
        ]
    )


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    return np.stack([unit_square(i, j) for i in range(6) for j in range(6)])


def star_polygons(seed: int, count: int = 300, vertices: int = 16) -> np.ndarray:
    """Non-convex star-shaped polygons of random size scattered over [0, 10]^2."""
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radius = 0.2 + 0.2 * rng.random((count, vertices))
    return rng.random((count, 1, 2)) * 10 + radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)


def wavy_ring(cx: float, cy: float, r: float, lobes: int = 5, points: int = 400) -> list[tuple[float, float]]:
    a = np.linspace(0, 2 * np.pi, points, endpoint=False)
    scale = r * (1 + 0.25 * np.sin(lobes * a))
    return list(zip(cx + scale * np.cos(a), cy + scale * np.sin(a), strict=True))


REGIONS = {
    "wavy": shapely.Polygon(wavy_ring(5, 5, 4)),
    "wavy with a hole": shapely.Polygon(wavy_ring(5, 5, 4), [wavy_ring(5, 5, 1.5, lobes=3)]),
    "islands": shapely.MultiPolygon([shapely.Polygon(wavy_ring(3, 3, 2)), shapely.Polygon(wavy_ring(7.5, 7, 1.5))]),
    "clockwise input": shapely.Polygon(wavy_ring(5, 5, 4)[::-1]),
}


@pytest.mark.parametrize("name", REGIONS)
@pytest.mark.parametrize("clockwise", [False, True], ids=["ccw", "cw"])
def test_random_star_polygons_match_geos(name, clockwise):
    outlines = star_polygons(seed=len(name))
    if clockwise:
        outlines = outlines[:, ::-1, :].copy()
    want = geos_areas(outlines, REGIONS[name])
    assert 0 < np.count_nonzero((want > 0) & (want < polygon_areas(outlines))), "no polygon is crossed: a weak case"
    np.testing.assert_allclose(ours(outlines, REGIONS[name]), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "region,total",
    [
        (shapely.box(1, 1, 4, 3), 6.0),  # along the cells' edges
        (shapely.Polygon([(0, 0), (5, 5), (0, 5)]), 12.5),  # through their corners
        (shapely.Polygon([(-2, 0), (0, 0), (0, 3), (-2, 3)]), 0.0),  # sharing an edge from outside
        (shapely.Polygon([(0, 0), (6, 0), (6, 6), (0, 6)], [[(2, 2), (4, 2), (4, 4), (2, 4)]]), 32.0),  # hole on edges
        (shapely.Polygon([(2, 2), (3, 1.5), (4, 2), (3, 2.5)]), 1.0),  # touching corners and edges at points
    ],
    ids=["shared-edges", "through-corners", "outside-sharing", "hole-on-edges", "touching"],
)
def test_degenerate_contacts_with_a_grid_of_cells_are_exact(grid, region, total):
    got = ours(grid, region)
    np.testing.assert_allclose(got, geos_areas(grid, region), rtol=0, atol=1e-12)
    assert got.sum() == pytest.approx(total, abs=1e-12)


def test_a_region_inside_one_polygon_is_found_without_any_crossing(grid):
    island = shapely.Polygon(wavy_ring(2.5, 3.5, 0.2))
    got = ours(grid, island)
    assert got[2 * 6 + 3] == pytest.approx(island.area, rel=1e-12)
    assert np.count_nonzero(got) == 1


def polygonal(geometry):
    """The polygons of a geometry, as one (``make_valid`` may add lines and points where a ring touches itself)."""
    parts = shapely.get_parts(shapely.make_valid(geometry))
    return shapely.union_all([part for part in parts if part.geom_type == "Polygon"])


@pytest.mark.parametrize("seed", range(3))
def test_contacts_that_rounding_makes_almost_exact_match_geos(seed):
    """Grids scaled and shifted so that contacts exact on paper are off by rounding, either way: the signs of the
    crossings must still agree with one another (the earlier clipping got ~3% of these wrong by up to 0.4 of a cell)."""
    rng = np.random.default_rng(seed)
    grid = np.stack([unit_square(i, j, steps=2) for i in range(6) for j in range(6)])
    checked = 0
    for _ in range(150):
        # vertices on a quarter-cell grid: along the cells' edges, through their corners
        snapped = polygonal(shapely.Polygon(rng.integers(0, 25, size=(rng.integers(3, 9), 2)) / 4.0))
        scale, shift = rng.choice([1.0, 0.1, 1 / 3, 7.3]), rng.choice([0.0, 0.7, -12.3])
        outlines = np.roll(grid[:, ::-1] if rng.random() < 0.5 else grid, rng.integers(0, 8), axis=1) * scale + shift
        region = polygonal(shapely.affinity.affine_transform(snapped, [scale, 0, 0, scale, shift, shift]))
        if region.is_empty or region.area == 0:
            continue
        checked += 1
        np.testing.assert_allclose(ours(outlines, region), geos_areas(outlines, region), rtol=0, atol=1e-9 * scale**2)
    assert checked > 100
