"""Assets of one LIGO/Virgo/KAGRA notice (partitioned by ``gw_alerts``).

``raw_alert -> skymap -> api_record`` posts the record as early as possible;
the slower products (``alert_files``, ``contours``, ``moc``) follow and are
named after what ``api_record`` decided.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    MetadataValue,
    Output,
    asset,
)

from ..io.io_managers import ProductFiles
from ..notices.ligo import LigoNotice, alert_record, parse_ligo_notice
from ..notices.naming import (
    PostAction,
    is_late,
    named_entry,
    needs_name,
    notice_time,
    ordered_datecreated,
    post_action,
    posted_entry,
    record_number,
)
from ..notices.validation import NoticeValidationError, final_failure
from ..partitions import gw_alert_partitions
from ..resources.gwtm_api import GWTMApiResource
from ..resources.settings import ListenerConfig
from ..resources.storage import AlertLedger
from ..science.contours import contours_geojson
from ..science.moc import credible_region_moc, moc_area_deg2, moc_fits_bytes
from ..science.skymap import (
    SkymapError,
    decode_notice_skymap,
    flat_map,
    gzip_bytes,
    read_multiorder_fits,
    skymap_statistics,
)
from ..storage_keys import (
    CONTOURS,
    FLAT_MAP,
    MULTIORDER_MAP,
    RAW_NOTICE,
    moc_suffix,
    product_key,
)
from ..timestamps import utc_naive
from .checks import CONTOURS_CHECK, FLAT_MAP_CHECK, MOC_CHECK, check_contours, check_flat_maps, check_mocs
from .common import (
    LIGO_GROUP,
    DecodedSkymap,
    PostedRecord,
    check_partition,
    elapsed_ms,
    products_multi_asset,
    retried_asset,
)

#: Landed by the sensors (an external asset: Dagster records it, never computes it); read through its IO manager.
incoming_gw_notice = AssetSpec(
    key="incoming_gw_notice",
    partitions_def=gw_alert_partitions,
    group_name=LIGO_GROUP,
    description="Raw igwn.gwalert bytes as received, landed in storage before the run.",
).with_io_manager_key("incoming_notice_io_manager")


@asset(
    partitions_def=gw_alert_partitions, group_name=LIGO_GROUP, io_manager_key="intermediate_io_manager", kinds={"json"}
)
def raw_alert(context: AssetExecutionContext, incoming_gw_notice: bytes) -> Output[LigoNotice]:
    """The igwn.gwalert notice, validated against the IGWN schema."""
    try:
        notice = parse_ligo_notice(incoming_gw_notice)
    except NoticeValidationError as exc:
        raise final_failure(exc) from exc
    check_partition(notice, context)
    return Output(
        notice,
        metadata={
            "graceid": notice.graceid,
            "alert_type": notice.alert_type,
            "role": notice.role,
            "bytes": len(notice.raw),
            "external_coincidence": bool(notice.external_coinc),
        },
    )


@asset(
    partitions_def=gw_alert_partitions, group_name=LIGO_GROUP, io_manager_key="intermediate_io_manager", kinds={"numpy"}
)
def skymap(raw_alert: LigoNotice) -> Output[dict[str, DecodedSkymap]]:
    """Decoded multi-order sky maps by record label ("" for the GW map, "-ExtCoinc" for the combined map)."""
    started = time.perf_counter()
    maps = {}
    for label, encoded in raw_alert.skymaps.items():
        try:
            data = decode_notice_skymap(encoded)
            sky = read_multiorder_fits(data)
        except SkymapError as exc:
            raise final_failure(exc) from exc
        maps[label] = DecodedSkymap(sky=sky, fits=data, statistics=skymap_statistics(sky))
    metadata: dict[str, Any] = {"maps": len(maps), "compute_ms": elapsed_ms(started)}
    if "" in maps:
        s = maps[""].statistics
        metadata |= {
            "area_90_deg2": s.area_90,
            "area_50_deg2": s.area_50,
            "ra_deg": s.ra,
            "dec_deg": s.dec,
            "distance_mpc": s.distance if s.distance is not None else float("nan"),
            "max_order": s.max_order,
        }
    return Output(maps, metadata=metadata)


@retried_asset(
    partitions_def=gw_alert_partitions,
    group_name=LIGO_GROUP,
    io_manager_key="intermediate_io_manager",
    kinds={"api"},
)
def api_record(
    context: AssetExecutionContext,
    raw_alert: LigoNotice,
    skymap: dict[str, DecodedSkymap],
    gwtm_api: GWTMApiResource,
    alert_ledger: AlertLedger,
    listener_config: ListenerConfig,
) -> Output[dict[str, PostedRecord]]:
    """Alert records posted to the GWTM API, each exactly once, with the product name it gives its files.

    How names and posts are decided (once, kept in the ledger before the
    post, so that nothing is posted twice or renamed): ``notices/naming.py``.
    This asset reads, writes and posts around those decisions.
    """
    notice = raw_alert
    ledger = alert_ledger.read(notice.storage_dir, context.partition_key)
    held: list[dict[str, Any]] | None = None
    last_created: datetime | None = None
    posted: dict[str, PostedRecord] = {}
    for label in notice.record_labels:
        decoded = skymap.get(label) or skymap.get("")
        found = ledger.get(label)
        action = post_action(found)
        entry = found
        if needs_name(found):
            if held is None:
                held = gwtm_api.query_alerts(notice.graceid)
            alert_type = notice.alert_type + label
            number = record_number(
                found,
                alert_type,
                held if gwtm_api.posts_enabled else None,
                partial(
                    alert_ledger.count_posted, notice.storage_dir, notice.graceid, alert_type, context.partition_key
                ),
            )
            notice_created = utc_naive(notice.content.get("time_created"))
            made = notice_time(notice_created, alert_type)
            notice_times = (
                alert_ledger.notice_times(notice.storage_dir, notice.graceid, context.partition_key)
                if is_late(held, made)
                else {}
            )
            last_created = ordered_datecreated(held, made, notice_times, last_created, datetime.now(UTC))
            entry = named_entry(notice.graceid, alert_type, number, last_created, notice_created)
            ledger[label] = entry
            alert_ledger.write(notice.storage_dir, context.partition_key, ledger)
        assert entry is not None
        map_owner = entry["name"] if label in skymap else posted[""].name if "" in skymap else None
        record = alert_record(
            notice,
            label,
            decoded.statistics if decoded else None,
            listener_config.observing_run,
            # the key of the flat map alert_files writes for this record, which the site opens
            skymap_fits_url=map_owner and product_key(notice.storage_dir, map_owner, FLAT_MAP),
        )
        if entry.get("datecreated"):
            record["datecreated"] = entry["datecreated"]
        posted_now = action is not PostAction.KEEP
        if not posted_now:
            context.log.info("%s already posted as %s; not posting again", label or "record", entry["name"])
        else:
            stored = gwtm_api.find_alert(record) if action is PostAction.CONFIRM_THEN_POST else None
            if stored is not None:
                context.log.info("%s was posted before an interruption; keeping %s", label or "record", entry["name"])
            else:
                stored = gwtm_api.post_alert(record)
            entry = ledger[label] = posted_entry(entry, stored.get("id"))
            alert_ledger.write(notice.storage_dir, context.partition_key, ledger)
        posted[label] = PostedRecord(entry["name"], entry.get("api_id"), record, posted_now)
    metadata: dict[str, Any] = {"records_posted": sum(1 for p in posted.values() if p.posted_now)}
    created = utc_naive(notice.content.get("time_created"))
    if created is not None and any(p.posted_now for p in posted.values()):
        # What `gwtm-cron metrics` makes its produce-to-record histogram of.
        metadata["produce_to_record_s"] = round(time.time() - created.replace(tzinfo=UTC).timestamp(), 3)
    return Output(
        posted,
        metadata={
            **metadata,
            "names": MetadataValue.json({k or "gw": v.name for k, v in posted.items()}),
            "api_ids": MetadataValue.json({k or "gw": v.api_id for k, v in posted.items()}),
            "posted": gwtm_api.posts_enabled,
            "record": MetadataValue.json(json.loads(json.dumps(posted[""].record, default=str))),
        },
    )


@asset(
    partitions_def=gw_alert_partitions,
    group_name=LIGO_GROUP,
    io_manager_key="intermediate_io_manager",
    kinds={"api"},
    deps=["alert_files", "contours", "moc", "galaxy_list", "skymap_plot"],
    op_tags={"dagster/priority": "-1"},
)
def expired_mock_alerts(
    context: AssetExecutionContext,
    raw_alert: LigoNotice,
    api_record: dict[str, PostedRecord],
    gwtm_api: GWTMApiResource,
) -> Output:
    """The API's answer to ``del_test_alerts``, called for mock events once all that needs their alert is done.

    The server then deletes every mock alert (and its files) not dated today
    +-1 day, this event's too unless it is MS181101ab or recent: expected.
    Called only when this run posted a record; real events leave it None.
    """
    check_partition(raw_alert, context)
    if raw_alert.role != "test" or not any(r.posted_now for r in api_record.values()):
        return Output(None, metadata={"called": False})
    return Output(gwtm_api.del_test_alerts(), metadata={"called": gwtm_api.posts_enabled})


def _alert_files(
    notice: LigoNotice, skymap: dict[str, DecodedSkymap], records: dict[str, PostedRecord], flat_map_nside: int
) -> Iterator[Output[ProductFiles] | AssetCheckResult]:
    """The raw notice (``_alert.json``), the flat HEALPix map (``.fits.gz``) and the multi-order map (``_moc.fits.gz``)."""
    started = time.perf_counter()
    files = {product_key(notice.storage_dir, records[""].name, RAW_NOTICE): notice.raw}
    nsides = {}
    written_prob = {}
    for label, decoded in skymap.items():
        name = records[label].name
        flat = flat_map(decoded.sky, flat_map_nside)
        key = product_key(notice.storage_dir, name, FLAT_MAP)
        files[key] = flat.fits_gz
        written_prob[key] = flat.prob
        files[product_key(notice.storage_dir, name, MULTIORDER_MAP)] = gzip_bytes(decoded.fits)
        nsides[label or "gw"] = flat.nside
    yield Output(
        ProductFiles(files),
        output_name="alert_files",
        metadata={"flat_nside": MetadataValue.json(nsides), "compute_ms": elapsed_ms(started)},
    )
    yield check_flat_maps(written_prob)


def _moc(
    notice: LigoNotice, skymap: dict[str, DecodedSkymap], records: dict[str, PostedRecord]
) -> Iterator[Output[ProductFiles] | AssetCheckResult]:
    """IVOA MOCs of the 50% and 90% credible regions (``-moc50.fits``, ``-moc90.fits``)."""
    started = time.perf_counter()
    files = {}
    areas = {}
    checked = {}
    for label, decoded in skymap.items():
        credible = {50: decoded.statistics.area_50, 90: decoded.statistics.area_90}
        for level, credible_area in credible.items():
            region = credible_region_moc(decoded.sky, level / 100)
            key = product_key(notice.storage_dir, records[label].name, moc_suffix(level))
            files[key] = moc_fits_bytes(region)
            checked[key] = (files[key], credible_area)
            areas[f"{label or 'gw'}_{level}"] = round(moc_area_deg2(region), 3)
    yield Output(
        ProductFiles(files),
        output_name="moc",
        metadata={"areas_deg2": MetadataValue.json(areas), "compute_ms": elapsed_ms(started)},
    )
    yield check_mocs(checked)


def _contours(
    notice: LigoNotice, skymap: dict[str, DecodedSkymap], records: dict[str, PostedRecord]
) -> Iterator[Output[ProductFiles] | AssetCheckResult]:
    """GeoJSON contours of the 50% and 90% credible regions (``-contours-smooth.json``)."""
    started = time.perf_counter()
    files = {}
    rings = {}
    checked = {}
    for label, decoded in skymap.items():
        s = decoded.statistics
        geojson = contours_geojson(decoded.sky, (0.5, 0.9), (s.area_50, s.area_90))
        key = product_key(notice.storage_dir, records[label].name, CONTOURS)
        files[key] = json.dumps(geojson).encode()
        checked[key] = (files[key], decoded.sky)
        rings[label or "gw"] = [len(f["geometry"]["coordinates"]) for f in geojson["features"]]
    yield Output(
        ProductFiles(files),
        output_name="contours",
        metadata={"rings_50_90": MetadataValue.json(rings), "compute_ms": elapsed_ms(started)},
    )
    yield check_contours(checked)


@products_multi_asset(
    {"alert_files": ("fits", _alert_files), "moc": ("fits", _moc), "contours": ("geojson", _contours)},
    [FLAT_MAP_CHECK, MOC_CHECK, CONTOURS_CHECK],
)
def sky_map_products(
    context: AssetExecutionContext,
    raw_alert: LigoNotice,
    skymap: dict[str, DecodedSkymap],
    api_record: dict[str, PostedRecord],
    listener_config: ListenerConfig,
) -> Iterator[Output[ProductFiles] | AssetCheckResult]:
    """The stored products made from the sky map alone, each an asset of its own with its check, made in one step:
    a step costs Dagster ~40 ms (its events, input loads and provenance reads) whatever it computes. Any of them
    re-materializes alone (the UI's selection); the contours, whose check is the dearest, come last."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "alert_files" in selected:
        yield from _alert_files(raw_alert, skymap, api_record, listener_config.flat_map_nside)
    if "moc" in selected:
        yield from _moc(raw_alert, skymap, api_record)
    if "contours" in selected:
        yield from _contours(raw_alert, skymap, api_record)
