"""Every object key this project writes, in one place: the storage contract (README, "Products").

The GWTM site opens products by these names, so they change only with the site. Pure string rules, no I/O;
``io/`` checks keys (``check_key``) and stores them, ``assets/`` and ``sensors/`` ask here what to call them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: Suffixes of the products of one record, after its name ``<graceid>-<AlertType>[N]``.
RAW_NOTICE = "_alert.json"
FLAT_MAP = ".fits.gz"
MULTIORDER_MAP = "_moc.fits.gz"
CONTOURS = "-contours-smooth.json"
PICTURE = "-skymap.png"


def moc_suffix(level_percent: int) -> str:
    """``-moc50.fits``, ``-moc90.fits``: the credible-region MOCs."""
    return f"-moc{level_percent}.fits"


#: Suffixes of the products made once per event, after its ``<graceid>``.
FERMI_GBM_VISIBILITY = "-Fermi.json"
FERMI_LAT_FIELD = "-LAT.json"

#: Characters of the SHA-256 of a message that name it in quarantine.
QUARANTINE_DIGEST_LENGTH = 16


def storage_dir(graceid: str) -> str:
    """``test`` for mock events (``MS...``), ``fit`` for real ones."""
    return "test" if graceid.startswith("M") else "fit"


def product_key(directory: str, name: str, suffix: str) -> str:
    """``<dir>/<name><suffix>``: a product of one record, named by the record (``<graceid>-<AlertType>[N]``)."""
    return f"{directory}/{name}{suffix}"


def event_product_key(graceid: str, suffix: str) -> str:
    """``<dir>/<graceid><suffix>``: a product made once per event (the Fermi visibility)."""
    return f"{storage_dir(graceid)}/{graceid}{suffix}"


def incoming_notice_key(partition_key: str) -> str:
    """Where a notice's raw bytes land before its run: ``<dir>/incoming/<partition_key>.json``."""
    return f"{incoming_prefix(storage_dir(partition_key))}{partition_key}.json"


def incoming_prefix(directory: str) -> str:
    return f"{directory}/incoming/"


def ledger_key(directory: str, partition_key: str) -> str:
    """``<dir>/ledger/<partition_key>.json``: the names and posts decided for one partition."""
    return f"{ledger_prefix(directory, '')}{partition_key}.json"


def ledger_prefix(directory: str, graceid: str) -> str:
    """The ledgers of every partition of one event (``graceid``), or of all (``""``)."""
    return f"{directory}/ledger/{graceid}-" if graceid else f"{directory}/ledger/"


def quarantine_key(raw: bytes, *, kept: bool = True) -> str:
    """Where a message that is not a valid notice is kept: ``fit/quarantine/<digest>.json``;
    ``fit/quarantine/oversized-<digest>.json`` names one too large to keep (only its reason is written).

    Always under ``fit``, even for mock events: the server's ``del_test_alerts``
    sweeps ``test/`` of every object not named for a recent mock event, and a
    quarantined message is named by its digest only (its ids are not trusted).
    """
    digest = hashlib.sha256(raw).hexdigest()[:QUARANTINE_DIGEST_LENGTH]
    return f"fit/quarantine/{digest}.json" if kept else f"fit/quarantine/oversized-{digest}.json"


def quarantine_reason_key(message_key: str) -> str:
    """The ``.reason.txt`` beside a quarantined message."""
    return message_key.removesuffix(".json") + ".reason.txt"


def intermediate_key(prefix: str, asset_path: Sequence[str], partition_key: str | None) -> str:
    """``<prefix>/<asset path>/<partition>.pickle``: a value passed between assets, not a product."""
    return f"{prefix}/{'/'.join(asset_path)}/{partition_key or '__unpartitioned__'}.pickle"
