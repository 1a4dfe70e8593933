"""Fermi coverage at the time of a signal: GBM's Earth-unocculted sky and the LAT field of view.

Both depend only on the time of the signal, so they are written once per
event (``<dir>/<graceid>-Fermi.json``, ``<dir>/<graceid>-LAT.json``); later
notices of the event keep the stored files. Missing inputs (no element set, no
FT2 file) skip a product with a warning; they never fail the partition.
"""

import json
import logging
import time
from datetime import UTC, datetime

from dagster import AssetExecutionContext, MetadataValue, Output

from ..io.io_managers import ProductFiles
from ..notices.ligo import LigoNotice
from ..resources.fermi import FermiEphemerisResource, fermi_met
from ..science.moc import moc_area_deg2, moc_json
from ..science.saa import gbm_saa_boundary
from ..science.visibility import (
    earth_disk,
    gbm_visible_moc,
    lat_fov_moc,
    spacecraft_position_gcrs_km,
    subsatellite_point_deg,
)
from ..storage_keys import FERMI_GBM_VISIBILITY, FERMI_LAT_FIELD, event_product_key
from .common import after_record_asset, check_partition

logger = logging.getLogger(__name__)


def signal_time(notice: LigoNotice) -> datetime | None:
    """The time of the signal (UTC) from the notice's ``event.time``; None for retractions."""
    value = notice.event.get("time")
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))  # Python 3.11 reads the trailing Z
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def gbm_visibility(when: datetime, fermi: FermiEphemerisResource) -> tuple[dict | None, dict]:
    """GBM's visible sky as MOC JSON (empty in the SAA), and what was found; None without an element set."""
    from astropy.time import Time
    from mocpy import MOC

    elements = fermi.element_set(when)
    if elements is None:
        return None, {"gbm": "skipped: no element set near the signal"}
    moment = Time(when)
    position = spacecraft_position_gcrs_km(elements.line1, elements.line2, moment)
    latitude, longitude = subsatellite_point_deg(position, moment)
    disk = earth_disk(position)
    saa = gbm_saa_boundary(fermi_met(when))
    info = {
        "tle_epoch": elements.epoch.isoformat(),
        "altitude_km": round(disk.altitude_km, 1),
        "earth_radius_deg": round(disk.radius_deg, 2),
        "subsatellite_lat_lon_deg": [round(latitude, 2), round(longitude, 2)],
        "saa_boundary": saa.name,
    }
    if saa.contains(latitude, longitude):
        logger.info(
            "Fermi was in the South Atlantic Anomaly (%s) at %s: GBM off, empty MOC", saa.name, when.isoformat()
        )
        return moc_json(MOC.new_empty(max_depth=8)), info | {"gbm": "in the SAA: off"}
    visible = gbm_visible_moc(disk)
    return moc_json(visible), info | {"gbm": "on", "gbm_visible_deg2": round(moc_area_deg2(visible), 1)}


def lat_visibility(when: datetime, fermi: FermiEphemerisResource) -> tuple[dict | None, dict]:
    """LAT's field of view as MOC JSON (empty in the SAA); None without pointing data."""
    from mocpy import MOC

    pointing = fermi.pointing(when)
    if pointing is None:
        return None, {"lat": "skipped: no FT2 pointing for the signal time"}
    info = {"lat_pointing_deg": [round(pointing.ra_deg, 3), round(pointing.dec_deg, 3)], "ft2": pointing.source}
    if pointing.in_saa:
        logger.info("Fermi was in the SAA (FT2 IN_SAA) at %s: LAT not observing, empty MOC", when.isoformat())
        return moc_json(MOC.new_empty(max_depth=8)), info | {"lat": "in the SAA: off"}
    return moc_json(lat_fov_moc(pointing.ra_deg, pointing.dec_deg)), info | {"lat": "on"}


@after_record_asset("json")
def visibility(
    context: AssetExecutionContext, raw_alert: LigoNotice, fermi_ephemeris: FermiEphemerisResource
) -> Output[ProductFiles]:
    """Fermi GBM's visible sky (``-Fermi.json``) and LAT's field of view (``-LAT.json``) at the signal, once per event."""
    check_partition(raw_alert, context)
    when = signal_time(raw_alert)
    if when is None:
        return Output(ProductFiles(), metadata={"skipped": "no signal time (retraction)"})
    started = time.perf_counter()
    files, info, timings = {}, {"signal_time": when.isoformat()}, {}
    for product, suffix, compute in (
        ("gbm", FERMI_GBM_VISIBILITY, gbm_visibility),
        ("lat", FERMI_LAT_FIELD, lat_visibility),
    ):
        step = time.perf_counter()
        moc, found = compute(when, fermi_ephemeris)
        timings[f"{product}_ms"] = round(1000 * (time.perf_counter() - step), 1)
        info |= found
        if moc is not None:
            files[event_product_key(raw_alert.graceid, suffix)] = json.dumps(moc).encode()
    for message in (info.get("gbm", ""), info.get("lat", "")):
        if message.startswith("skipped"):
            context.log.warning("visibility of %s: %s", raw_alert.graceid, message)
    return Output(
        ProductFiles(files, write_once=frozenset(files)),
        metadata={
            "coverage": MetadataValue.json(info),
            "compute_ms": round(1000 * (time.perf_counter() - started), 1),
            **timings,
        },
    )
