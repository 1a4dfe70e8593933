r"""Dagster instance plugins, loaded by module path from ``dagster.yaml`` (and the production instance, the Helm
values) into the webserver, the daemon and the run-worker pool, never into the code location.

- ``instance``: ``EventTaggingInstance``, tags notice-partition runs with their event when they are created and
  remembers the dynamic partitions it has seen exist.
- ``run_coordinator``: ``EventTaggingRunCoordinator``, the run queue: tags, one run per event, half-second passes.
- ``run_launcher``: ``WarmRunLauncher`` (runs to the warm pool, else a new process), ``LocalRunLauncher``.
- ``run_launcher_k8s``: ``K8sWarmRunLauncher``, the same over ``K8sRunLauncher`` (a Job per backfill run).
- ``run_workers``: ``gwtm-cron run-workers``, the pool that forks one warm worker per run.
- ``daemon``: ``gwtm-cron daemon``, ``dagster-daemon run`` with its sensor loop at ``SENSOR_LOOP_S`` and its
  PostgreSQL connections pooled.
- ``sqlite_storage``: ``ShardTemplateSqliteStorage``, the single host's default storage, each run's event database
  copied from a template, each process's SQLite connections kept open.
- ``postgres_storage``: ``KnownColumnsPostgresStorage``, the production instance's PostgreSQL storage, every
  instance of a process on the process's kept connections.
- ``process_engines``: ``ProcessEngines``, the engines a process keeps (one per database, none across a fork).
- ``known_columns``: the mixins by which the storages ask about a schema column, table or secondary index until they
  have found it once.
- ``memory_storage``: the ephemeral instance's in-memory storages (``gwtm-cron ingest`` without ``DAGSTER_HOME``),
  every query on the connection each holds.

Dagster's private APIs used here, to re-check on every Dagster upgrade (``grep -rn "dagster\._" gwtm_assets``;
``tests/test_run_workers.py``, ``tests/test_run_tags.py`` and ``tests/test_deploy.py`` exercise each):

- ``dagster._core.launcher`` (``LaunchRunContext``, ``ResumeRunContext``, ``CheckRunHealthResult``,
  ``WorkerStatus``) and ``DefaultRunLauncher``'s health check: the launcher contract.
- ``dagster._core.run_coordinator`` (``QueuedRunCoordinator``, ``SubmitRunContext``): the queue.
- ``dagster._core.instance`` ``RunDomain`` and ``DagsterInstance.create_run``: tagging at creation;
  ``InstanceType`` and the in-memory storages, launcher and coordinator of ``DagsterInstance.ephemeral()``.
- ``dagster._core.events.EngineEventData``, ``dagster._core.storage.dagster_run.DagsterRun``.
- ``dagster._serdes`` (``ConfigurableClassData``, ``serialize_value``/``deserialize_value``): config and the
  instance reference handed to a worker.
- ``dagster._cli.api._execute_run_command_body`` and ``_resume_run_command_body`` (what ``dagster api
  execute_run`` and ``resume_run`` run): a worker's body; ``dagster._grpc.types.ResumeRunArgs``: a cold resume.
- ``dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME``, ``dagster._daemon.cli.run_command`` and its
  ``get_instance_for_cli``: the daemon (``tests/test_sensor_loop.py``, ``tests/test_daemon.py``).
- ``dagster._core.storage.sqlite_storage`` (``DagsterSqliteStorage`` and its directory helpers) and
  ``SqliteEventLogStorage._initdb``/``_connect``/``_db_lock``/``_initialized_dbs``/``INDEX_SHARD_NAME``, the
  SQLite storages' ``connect`` and ``_conn_string``: the SQLite storage (``tests/test_sqlite_storage.py``).
- The SQL storages' schema checks (``has_asset_key_col``, ``_has_asset_key_col_on_connection``,
  ``has_run_stats_index_cols``, ``has_bulk_actions_selector_cols``, ``has_backfill_id_column``) and
  ``DagsterPostgresStorage``'s constructor: ``known_columns`` and ``postgres_storage`` (``tests/test_known_columns.py``).
- The PostgreSQL storages' ``_engine`` attribute (assigned by their constructors and ``optimize_for_webserver``, read
  by every query) and ``_token_provider``: ``postgres_storage`` (``tests/test_postgres_storage.py``).
"""
