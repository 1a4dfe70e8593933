"""Science checks evaluated with every partition; the UI shows a failed check next to its asset.

They run inside the asset that makes the product (asset checks of a dynamic
partition would otherwise load every partition's value), on the bytes about
to be stored, and are partitioned like it: the UI shows each alert's result
in its partition view, and a failed check (severity ERROR) marks that alert.
"""

import json
import time
import warnings

import numpy as np
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, PreviewWarning

from ..partitions import gw_alert_partitions
from ..science.enclosed import EnclosedProbabilityError, probability_in_rings
from ..science.moc import moc_area_deg2, moc_from_fits_bytes
from ..science.skymap import MultiOrderSkyMap
from .common import elapsed_ms

PROBABILITY_TOLERANCE = 0.01
MOC_AREA_TOLERANCE = 0.01
FLAT_SUM_TOLERANCE = 1e-4

# Partitioned checks are a preview feature of Dagster 1.13; the pinned version is tested with them (test_assets).
warnings.filterwarnings("ignore", category=PreviewWarning, message="Specifying a partitions_def on an AssetCheckSpec")

CONTOURS_CHECK = AssetCheckSpec(
    "contours_enclose_their_probability",
    asset="contours",
    partitions_def=gw_alert_partitions,
    description="Each credible-level contour encloses its probability (+-0.01): the map's own cells integrated"
    " against the rings on an equal-area projection, cells the rings cross by exact intersection (science/enclosed.py).",
)
MOC_CHECK = AssetCheckSpec(
    "moc_areas_match_credible_areas",
    asset="moc",
    partitions_def=gw_alert_partitions,
    description="Each credible-region MOC has the credible area (+-1%).",
)
FLAT_MAP_CHECK = AssetCheckSpec(
    "flat_maps_sum_to_one",
    asset="alert_files",
    partitions_def=gw_alert_partitions,
    description="Every flat .fits.gz map's PROB column, as written, holds probability 1 (+-1e-4).",
)


def check_contours(geojson_by_name: dict[str, tuple[bytes, MultiOrderSkyMap]]) -> AssetCheckResult:
    """``{file: (GeoJSON bytes, sky map)}`` -> whether every ring set encloses its credible level."""
    started = time.perf_counter()
    enclosed: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name, (data, sky) in geojson_by_name.items():
        for feature in json.loads(data)["features"]:
            key = f"{name}@{feature['properties']['credible_level']}"
            try:
                enclosed[key] = round(probability_in_rings(sky, feature["geometry"]["coordinates"]), 4)
            except EnclosedProbabilityError as exc:
                errors[key] = str(exc)
    bad = {k: v for k, v in enclosed.items() if abs(v - int(k.rsplit("@", 1)[1]) / 100) > PROBABILITY_TOLERANCE}
    return AssetCheckResult(
        asset_key=CONTOURS_CHECK.asset_key,
        check_name=CONTOURS_CHECK.name,
        passed=not bad and not errors,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "enclosed_probability": enclosed,
            "outside_tolerance": bad,
            "not_integrable": errors,
            "check_ms": elapsed_ms(started),
        },
    )


def check_mocs(mocs_by_name: dict[str, tuple[bytes, float]]) -> AssetCheckResult:
    """``{file: (MOC FITS bytes, credible area deg2)}`` -> whether each MOC's area is within 1%."""
    started = time.perf_counter()
    ratios = {
        name: round(moc_area_deg2(moc_from_fits_bytes(data)) / area, 5) for name, (data, area) in mocs_by_name.items()
    }
    bad = {k: v for k, v in ratios.items() if abs(v - 1) > MOC_AREA_TOLERANCE}
    return AssetCheckResult(
        asset_key=MOC_CHECK.asset_key,
        check_name=MOC_CHECK.name,
        passed=not bad,
        metadata={"area_ratio": ratios, "outside_tolerance": bad, "check_ms": elapsed_ms(started)},
    )


def check_flat_maps(prob_by_name: dict[str, np.ndarray]) -> AssetCheckResult:
    """``{file: its PROB column as written}`` -> whether each flat map holds probability 1.

    The column is the buffer the file's table was compressed from (``FlatMap.prob``), so no re-read is needed
    to check what was written; that the file reads back as that column is a test's job (test_science_skymap).
    """
    started = time.perf_counter()
    totals = {name: float(np.sum(prob, dtype=np.float64)) for name, prob in prob_by_name.items()}
    bad = {k: v for k, v in totals.items() if abs(v - 1) > FLAT_SUM_TOLERANCE}
    return AssetCheckResult(
        asset_key=FLAT_MAP_CHECK.asset_key,
        check_name=FLAT_MAP_CHECK.name,
        passed=not bad,
        metadata={"total_probability": totals, "outside_tolerance": bad, "check_ms": elapsed_ms(started)},
    )
