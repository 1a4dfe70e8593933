"""The quick-look picture of each alert's sky maps, drawn once the record is posted and the products exist."""

import base64
import json
import time
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, Output

from ..io.io_managers import ProductFiles
from ..notices.ligo import LigoNotice
from ..science.quicklook import skymap_png
from ..storage_keys import FERMI_GBM_VISIBILITY, FERMI_LAT_FIELD, PICTURE, event_product_key, product_key
from .common import DecodedSkymap, PostedRecord, after_record_asset, check_partition

#: Largest picture shown inline in the UI (base64 in the event log); bigger ones are linked by key only.
INLINE_LIMIT_BYTES = 256 * 1024


def coverage_mocs(raw_alert: LigoNotice, visibility: ProductFiles) -> tuple[dict | None, dict | None]:
    """The GBM visible-sky and LAT field MOCs (IVOA JSON) of the event, when the visibility asset made them."""
    files = visibility.files
    gbm = files.get(event_product_key(raw_alert.graceid, FERMI_GBM_VISIBILITY))
    lat = files.get(event_product_key(raw_alert.graceid, FERMI_LAT_FIELD))
    return (json.loads(gbm) if gbm else None), (json.loads(lat) if lat else None)


@after_record_asset("png")
def skymap_plot(
    context: AssetExecutionContext,
    raw_alert: LigoNotice,
    skymap: dict[str, DecodedSkymap],
    api_record: dict[str, PostedRecord],
    visibility: ProductFiles,
    galaxy_list: dict | None,
) -> Output[ProductFiles]:
    """All-sky Mollweide picture of each sky map (``-skymap.png``): credible regions, GBM occultation, LAT field, galaxies."""
    check_partition(raw_alert, context)
    if not skymap:
        return Output(ProductFiles(), metadata={"skipped": "no sky map (retraction)"})
    started = time.perf_counter()
    gbm_visible, lat_field = coverage_mocs(raw_alert, visibility)
    galaxies = (galaxy_list or {}).get("galaxies", [])
    files = {}
    for label, decoded in skymap.items():
        name = api_record[label].name
        files[product_key(raw_alert.storage_dir, name, PICTURE)] = skymap_png(
            decoded.sky,
            decoded.statistics,
            name,
            gbm_visible=gbm_visible,
            lat_field=lat_field,
            galaxies=galaxies if label == "" else (),
        )
    metadata: dict[str, Any] = {
        "compute_ms": round(1000 * (time.perf_counter() - started), 1),
        "gbm_occultation": gbm_visible is not None,
        "lat_field": lat_field is not None,
        "galaxies": min(len(galaxies), 10),
    }
    for key, png in files.items():
        if len(png) <= INLINE_LIMIT_BYTES:
            encoded = base64.b64encode(png).decode("ascii")
            metadata[key.rsplit("/", 1)[-1]] = MetadataValue.md(f"![{key}](data:image/png;base64,{encoded})")
    return Output(ProductFiles(files), metadata=metadata)
