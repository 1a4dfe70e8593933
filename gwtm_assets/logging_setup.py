"""Process-wide logging from LOG_FORMAT / LOG_LEVEL / VERBOSE."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from .settings import GWTMSettings


def configure_logging(settings: GWTMSettings) -> None:
    """Text logs by default; one JSON object per line with ``LOG_FORMAT=json`` (for Kubernetes)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = settings.log_level if settings.verbose else max(logging.WARNING, logging.getLevelName(settings.log_level))
    root = logging.getLogger("gwtm_assets")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
