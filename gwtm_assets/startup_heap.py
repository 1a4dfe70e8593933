"""Keep what a long-lived process built at start-up out of the cyclic garbage collector's passes."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now to the collector's permanent generation.

    Modules, Dagster's definitions and the instance live as long as the process. Left in the collector, every full
    pass walks them again: in a process with Dagster imported, the passes an ingest triggers while it imports the
    science libraries and builds a notice's products cost ~0.2 s per sky-map notice (``bench_notice_cost.py``).
    In a process that forks (the run-worker pool), frozen objects are also never written to by a worker's
    collections, so their pages stay shared.
    """
    gc.collect()
    gc.freeze()
