"""Run tags: the names the sensors, the run queue, the launchers and replay agree on (and operators filter by)."""

#: The event (superevent or IceCube reference) of a notice-partition run: what operators filter by.
EVENT_TAG = "gwtm/event"
#: The run queue's lane of a notice-partition run, one run at a time per value: ``<event>`` for the runs that may
#: post an event's records (in arrival order, so the numbering never races), ``<event>/products`` for the runs
#: that only make products from records already posted (``gwtm_assets/sensors/products.py``).
QUEUE_TAG = "gwtm/queue"
#: ``products`` on a products-only run: the queue lets at most two run at once (records keep the other slots).
STAGE_TAG = "gwtm/stage"
PRODUCTS_STAGE = "products"
#: Dagster's run priority: the queue dequeues higher first (records 0, products -1).
PRIORITY_TAG = "dagster/priority"
#: Dagster's tag naming the partition a run materializes.
PARTITION_TAG = "dagster/partition"
#: Runs with these tag keys go to the base launcher by default: backfills, heavy work.
COLD_RUN_TAGS = ("dagster/backfill",)
#: Tags of a run started by the warm pool: ``warm``, and the worker's pid.
WORKER_TAG = "gwtm/run-worker"
WORKER_PID_TAG = "gwtm/run-worker-pid"
#: When that worker started (clock ticks since boot): a recreated pool's new process with the same pid is not it.
WORKER_STARTED_TAG = "gwtm/run-worker-started"
#: The replay run that registered a partition (``gwtm-cron replay --launch``).
REPLAY_TAG = "gwtm/replay"
