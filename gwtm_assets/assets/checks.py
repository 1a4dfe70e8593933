"""Science checks run beside every partition: the UI shows a failed check next to its asset."""


import gzip
import io
import json

import numpy as np
from astropy.io import fits
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, asset_check

from ..io.io_managers import ProductFiles
from ..science.contours import probability_inside_rings
from ..science.skymap import SR_TO_DEG2, order_pixel_area_sr, uniq_to_order_ipix
from .ligo import DecodedSkymap, PostedRecord, alert_files, contours, moc

PROBABILITY_TOLERANCE = 0.01
MOC_AREA_TOLERANCE = 0.01


def _label_of(key: str, api_record: dict[str, PostedRecord]) -> str:
    """Record label of a product key: the label whose name the file starts with (longest first)."""
    filename = key.split("/", 1)[1]
    for label, posted in sorted(api_record.items(), key=lambda kv: -len(kv[1].name)):
        if filename.startswith(posted.name):
            return label
    raise KeyError(key)


@asset_check(
    asset=contours,
    additional_ins={"skymap": AssetIn("skymap"), "api_record": AssetIn("api_record")},
    description="Each credible-level contour encloses its probability (+-0.01), integrated with mocpy.",
)
def contours_enclose_their_probability(
    contours: ProductFiles, skymap: dict[str, DecodedSkymap], api_record: dict[str, PostedRecord]
) -> AssetCheckResult:
    measured = {}
    for key, data in contours.files.items():
        sky = skymap[_label_of(key, api_record)].sky
        for feature in json.loads(data)["features"]:
            level = feature["properties"]["credible_level"]
            inside = probability_inside_rings(sky, feature["geometry"]["coordinates"], depth=min(sky.max_order + 1, 13))
            measured[f"{key.rsplit('/', 1)[-1]}@{level}"] = round(inside, 4)
    bad = {k: v for k, v in measured.items() if abs(v - int(k.rsplit("@", 1)[1]) / 100) > PROBABILITY_TOLERANCE}
    return AssetCheckResult(passed=not bad, severity=AssetCheckSeverity.ERROR, metadata={"enclosed": measured, "outside_tolerance": bad})


@asset_check(
    asset=moc,
    additional_ins={"skymap": AssetIn("skymap"), "api_record": AssetIn("api_record")},
    description="Each credible-region MOC has the credible area (within 1%).",
)
def moc_areas_match_credible_areas(
    moc: ProductFiles, skymap: dict[str, DecodedSkymap], api_record: dict[str, PostedRecord]
) -> AssetCheckResult:
    ratios = {}
    for key, data in moc.files.items():
        stats = skymap[_label_of(key, api_record)].statistics
        level = int(key[-7:-5])
        with fits.open(io.BytesIO(data)) as hdus:
            order, _ = uniq_to_order_ipix(np.asarray(hdus[1].data["UNIQ"], dtype=np.int64))
        area = float(np.sum(order_pixel_area_sr(order))) * SR_TO_DEG2
        ratios[key.rsplit("/", 1)[-1]] = round(area / (stats.area_50 if level == 50 else stats.area_90), 5)
    bad = {k: v for k, v in ratios.items() if abs(v - 1) > MOC_AREA_TOLERANCE}
    return AssetCheckResult(passed=not bad, metadata={"area_ratio": ratios, "outside_tolerance": bad})


@asset_check(asset=alert_files, description="Every flat .fits.gz map holds a total probability of 1 (+-1e-4).")
def flat_maps_sum_to_one(alert_files: ProductFiles) -> AssetCheckResult:
    totals = {}
    for key, data in alert_files.files.items():
        if key.endswith(".fits.gz") and not key.endswith("_moc.fits.gz"):
            with fits.open(io.BytesIO(gzip.decompress(data))) as hdus:
                totals[key.rsplit("/", 1)[-1]] = float(np.sum(hdus[1].data["PROB"], dtype=np.float64))
    bad = {k: v for k, v in totals.items() if abs(v - 1) > 1e-4}
    return AssetCheckResult(passed=not bad, metadata={"total_probability": totals, "outside_tolerance": bad})
