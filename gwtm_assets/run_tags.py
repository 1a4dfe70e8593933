"""Run tags: the names the sensors, the run queue, the launchers and replay agree on (and operators filter by)."""

#: The event (superevent or IceCube reference) of a notice-partition run; the queue runs one per event at a time.
EVENT_TAG = "gwtm/event"
#: Dagster's tag naming the partition a run materializes.
PARTITION_TAG = "dagster/partition"
#: Runs with these tag keys go to the base launcher by default: backfills, heavy work.
COLD_RUN_TAGS = ("dagster/backfill",)
#: Tags of a run started by the warm pool: ``warm``, and the worker's pid.
WORKER_TAG = "gwtm/run-worker"
WORKER_PID_TAG = "gwtm/run-worker-pid"
#: The replay run that registered a partition (``gwtm-cron replay --launch``).
REPLAY_TAG = "gwtm/replay"
