"""Science checks evaluated with every partition; the UI shows a failed check next to its asset.

They run inside the asset that makes the product (asset checks of a dynamic
partition would otherwise load every partition's value), on the bytes about
to be stored, and are partitioned like it: the UI shows each alert's result
in its partition view, and a failed check (severity ERROR) marks that alert.
"""

import gzip
import io
import json
import warnings

import numpy as np
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, PreviewWarning

from ..partitions import gw_alert_partitions
from ..science.contours import enclosed_probability
from ..science.moc import moc_area_deg2, moc_from_fits_bytes
from ..science.skymap import MultiOrderSkyMap

PROBABILITY_TOLERANCE = 0.01
MOC_AREA_TOLERANCE = 0.01
FLAT_SUM_TOLERANCE = 1e-4
#: Depth of the contour check's finer integration is at most this + 1 (order 14 cells: 13 arcsec).
CHECK_MAX_DEPTH = 13

# Partitioned checks are a preview feature of Dagster 1.13; the pinned version is tested with them (test_assets).
warnings.filterwarnings("ignore", category=PreviewWarning, message="Specifying a partitions_def on an AssetCheckSpec")

CONTOURS_CHECK = AssetCheckSpec(
    "contours_enclose_their_probability",
    asset="contours",
    partitions_def=gw_alert_partitions,
    description="Each credible-level contour encloses its probability (+-0.01), integrated independently with mocpy"
    " (two depths, extrapolated to remove the polygon cover's border error).",
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
    description="Every flat .fits.gz map holds probability 1 (+-1e-4).",
)


def check_contours(geojson_by_name: dict[str, tuple[bytes, MultiOrderSkyMap]]) -> AssetCheckResult:
    """``{file: (GeoJSON bytes, sky map)}`` -> whether every ring set encloses its credible level."""
    enclosed = {}
    for name, (data, sky) in geojson_by_name.items():
        for feature in json.loads(data)["features"]:
            level = feature["properties"]["credible_level"]
            depth = min(sky.max_order + 1, CHECK_MAX_DEPTH)
            enclosed[f"{name}@{level}"] = round(enclosed_probability(sky, feature["geometry"]["coordinates"], depth), 4)
    bad = {k: v for k, v in enclosed.items() if abs(v - int(k.rsplit("@", 1)[1]) / 100) > PROBABILITY_TOLERANCE}
    return AssetCheckResult(
        check_name=CONTOURS_CHECK.name,
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        metadata={"enclosed_probability": enclosed, "outside_tolerance": bad},
    )


def check_mocs(mocs_by_name: dict[str, tuple[bytes, float]]) -> AssetCheckResult:
    """``{file: (MOC FITS bytes, credible area deg2)}`` -> whether each MOC's area is within 1%."""
    ratios = {
        name: round(moc_area_deg2(moc_from_fits_bytes(data)) / area, 5) for name, (data, area) in mocs_by_name.items()
    }
    bad = {k: v for k, v in ratios.items() if abs(v - 1) > MOC_AREA_TOLERANCE}
    return AssetCheckResult(
        check_name=MOC_CHECK.name, passed=not bad, metadata={"area_ratio": ratios, "outside_tolerance": bad}
    )


def check_flat_maps(flat_by_name: dict[str, bytes]) -> AssetCheckResult:
    """``{file: gzip FITS bytes}`` -> whether each flat map's PROB column sums to 1."""
    from astropy.io import fits  # an independent reader of what science.skymap wrote; imported when first needed

    totals = {}
    for name, data in flat_by_name.items():
        with fits.open(io.BytesIO(gzip.decompress(data))) as hdus:
            totals[name] = float(np.sum(hdus[1].data["PROB"], dtype=np.float64))
    bad = {k: v for k, v in totals.items() if abs(v - 1) > FLAT_SUM_TOLERANCE}
    return AssetCheckResult(
        check_name=FLAT_MAP_CHECK.name, passed=not bad, metadata={"total_probability": totals, "outside_tolerance": bad}
    )
