"""The ranked host-galaxy list of a notice's sky map, posted to the GWTM API after its alert record."""

import time

from dagster import AssetExecutionContext, Config, MetadataValue, Output
from pydantic import Field

from ..notices.ligo import LigoNotice
from ..resources.galaxy_catalog import GalaxyCatalogResource
from ..resources.gwtm_api import GWTMApiResource
from ..resources.storage import AlertLedger
from ..science.galaxies import REFERENCE, rank_galaxies
from .common import DecodedSkymap, PostedRecord, after_record_asset, check_partition


class GalaxyListConfig(Config):
    """Run configuration an operator may set when re-materializing ``galaxy_list``."""

    repost: bool = Field(
        False,
        description="Post the list again although it was posted for this record (each post asks for a new DOI).",
    )


@after_record_asset("api", io_manager_key="intermediate_io_manager")
def galaxy_list(
    context: AssetExecutionContext,
    config: GalaxyListConfig,
    raw_alert: LigoNotice,
    skymap: dict[str, DecodedSkymap],
    api_record: dict[str, PostedRecord],
    galaxy_catalog: GalaxyCatalogResource,
    gwtm_api: GWTMApiResource,
    alert_ledger: AlertLedger,
) -> Output[dict | None]:
    """Likely hosts in the GW map's credible zone (Arcavi et al. 2017), replacing the group's list for the event.

    The ``event_galaxies`` body; None when no catalog is configured or the
    notice has no GW sky map (retractions). The list is posted once per alert
    record (each post requests a DOI): a retried, replayed or re-materialized
    partition whose list the ledger marks as posted ranks it but does not post
    it again, unless run with ``repost: true``.
    """
    check_partition(raw_alert, context)
    if not galaxy_catalog.enabled:
        return Output(None, metadata={"skipped": "PATH_TO_GALAXY_CATALOG_CONFIG is not set"})
    if "" not in skymap:
        return Output(None, metadata={"skipped": "no GW sky map"})
    started = time.perf_counter()
    ranking, catalog = galaxy_catalog.load()
    ranked = rank_galaxies(skymap[""].sky, catalog, ranking)
    galaxies = ranked.entries(catalog)
    ranked_ms = round(1000 * (time.perf_counter() - started), 1)
    body = {
        "graceid": raw_alert.graceid,
        "timesent_stamp": api_record[""].record.get("timesent"),
        "groupname": ranking.groupname,
        "reference": REFERENCE,
        "request_doi": True,
        "galaxies": galaxies,
    }
    ledger = alert_ledger.read(raw_alert.storage_dir, context.partition_key)
    already_posted = ledger.get("", {}).get("galaxy_list") == "posted" and not config.repost
    if already_posted:
        context.log.info("Galaxy list of %s was posted for this record; not posting again", api_record[""].name)
    elif galaxies:
        gwtm_api.replace_event_galaxies(body)
        if gwtm_api.posts_enabled:
            ledger.setdefault("", {})["galaxy_list"] = "posted"
            alert_ledger.write(raw_alert.storage_dir, context.partition_key, ledger)
    else:
        context.log.warning("No galaxy of %s in the credible zone of %s", ranking.catalog_path, raw_alert.graceid)
    return Output(
        body,
        metadata={
            "galaxies": len(galaxies),
            "candidates": ranked.candidates,
            "credzone": ranked.credzone,
            "distance_fallback": ranked.used_distance_fallback,
            "top": MetadataValue.json([g["name"] for g in galaxies[:10]]),
            "rank_ms": ranked_ms,
            "posted": gwtm_api.posts_enabled and bool(galaxies) and not already_posted,
            "already_posted": already_posted,
        },
    )
