"""gwtm-cron: command-line tools of the GWTM alert listeners (ingest and replay notices, browse and take what the
Kafka topics hold, catch up from GraceDB, migrate storage, index the galaxy catalog, warm run workers, the demo and a development API)."""

from __future__ import annotations

import argparse
import sys
import time

from pydantic import ValidationError

from .settings import ConfigurationError, GWTMSettings, invalid_settings


def _ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest_files
    from .logging_setup import configure_logging
    from .startup_heap import freeze_startup_heap

    settings = GWTMSettings()
    configure_logging(settings)
    freeze_startup_heap()
    failed = 0
    for result in ingest_files(args.files, settings):
        print(result.line(), flush=True)
        failed += not result.ok
    return 1 if failed else 0


def _replay(args: argparse.Namespace) -> int:
    if args.launch:
        return _launch_replay(args)
    from .ingest import replay
    from .logging_setup import configure_logging
    from .startup_heap import freeze_startup_heap

    settings = GWTMSettings()
    configure_logging(settings)
    freeze_startup_heap()
    results = replay(settings, args.files or None)
    for result in results:
        print(result.line(), flush=True)
    return 1 if any(not r.ok for r in results) else 0


def _launch_replay(args: argparse.Namespace) -> int:
    """Submit ``replay_notices_job`` to the instance in DAGSTER_HOME; its daemon registers and backfills the notices."""
    from pathlib import Path

    return _submit_replay({"paths": [str(Path(f).resolve()) for f in args.files]}, args.workspace, "replay")


def _submit_replay(op_config: dict[str, list[str]], workspace: str, command_name: str) -> int:
    import json
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if not os.environ.get("DAGSTER_HOME"):
        print(
            f"gwtm-cron {command_name} --launch: set DAGSTER_HOME to the instance the daemon runs on", file=sys.stderr
        )
        return 2
    config = {"ops": {"register_replay_partitions": {"config": op_config}}}
    beside_python = Path(sys.executable).parent / "dagster"  # the same environment as this command, even off PATH
    dagster = str(beside_python) if beside_python.exists() else shutil.which("dagster") or "dagster"
    command = [dagster, "job", "launch", "-w", workspace, "-j", "replay_notices_job",
               "--config-json", json.dumps(config)]  # fmt: skip
    return subprocess.run(command, check=False).returncode


def _catch_up(args: argparse.Namespace) -> int:
    """``catch-up``: every version of every notice GraceDB holds for the superevents, landed as the sensor lands."""
    from datetime import UTC, datetime

    from .catchup import GraceDBError, archived_notices, gracedb_client, in_time_order, superevents_created
    from .ingest import default_instance, ingest_notice
    from .logging_setup import configure_logging
    from .notices.history import land, landed_as, parse_notice
    from .resources.builders import build_resources
    from .resources.storage import opened_store
    from .startup_heap import freeze_startup_heap
    from .timestamps import utc_naive

    settings = GWTMSettings()
    configure_logging(settings)
    freeze_startup_heap()
    client = gracedb_client(settings.gracedb_url, timeout_s=settings.gracedb_timeout_s)
    failed = 0
    superevents = list(args.superevents)
    if args.since:
        since = utc_naive(args.since)
        if since is None:
            print(f"gwtm-cron catch-up: --since {args.since!r} is not an ISO 8601 time", file=sys.stderr)
            return 2
        try:
            found = superevents_created(client, since, datetime.now(UTC).replace(tzinfo=None), args.include_mock)
        except GraceDBError as exc:
            print(f"gwtm-cron catch-up: {exc} (GRACEDB_URL)", file=sys.stderr)
            return 1
        print(f"GraceDB: {len(found)} superevent(s) created since {since:%Y-%m-%dT%H:%M:%S}", flush=True)
        superevents += [s for s in found if s not in superevents]
    if not superevents:
        print("gwtm-cron catch-up: name superevents or give --since", file=sys.stderr)
        return 2
    notices = []
    for superevent in superevents:
        try:
            archived = archived_notices(client, superevent)
        except GraceDBError as exc:
            print(f"{superevent}: {exc} (GRACEDB_URL)", flush=True)
            failed += 1
            continue
        names = ", ".join(n.filename for n in archived) or "none"
        print(f"{superevent}: {len(archived)} notice(s): {names}", flush=True)
        for unusable in (n for n in archived if not n.is_notice):
            print(f"{unusable.where}: not a notice: {unusable.problem[:160]}", flush=True)
            failed += 1
        notices += [n for n in archived if n.is_notice]
    resources = build_resources(settings)
    launched: list[str] = []
    instance = None
    with opened_store(resources["product_storage"]) as store:
        for archived_notice in in_time_order(notices):
            _, parsed = parse_notice(archived_notice.raw)
            already = landed_as(store, parsed)
            label = f"{archived_notice.where} ({archived_notice.alert_type}, {archived_notice.time_created})"
            if already:
                print(f"{label}: already landed as {already}; not run again", flush=True)
            elif args.dry_run:
                print(f"{label}: would land as {parsed.partition_key}", flush=True)
            elif args.launch:
                land(store, parsed)
                launched.append(parsed.partition_key)
                print(f"{label}: landed as {parsed.partition_key}", flush=True)
            else:
                instance = instance or default_instance()
                result = ingest_notice(archived_notice.raw, archived_notice.where, instance, settings, resources, store)
                print(result.line(), flush=True)
                failed += not result.ok
    if launched:
        failed += _submit_replay({"partition_keys": launched}, args.workspace, "catch-up") != 0
    return 1 if failed else 0


def _kafka(args: argparse.Namespace) -> int:
    """``kafka list`` / ``kafka ingest``: read the topics with the sensors' settings, never committing."""
    from .ingest import default_instance, ingest_notice
    from .kafka_buffer import TopicUnavailable, is_landed, listing_line, read_topic, selected
    from .logging_setup import configure_logging
    from .resources.builders import build_resources
    from .resources.storage import opened_store
    from .startup_heap import freeze_startup_heap

    settings = GWTMSettings()
    configure_logging(settings)
    freeze_startup_heap()
    resources = build_resources(settings)
    kafka = resources["kafka"]
    if not kafka.configured:
        print(f"gwtm-cron kafka {args.action}: set KAFKA_CLIENT_ID/KAFKA_CLIENT_SECRET (GCN) or "
              "KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)  # fmt: skip
        return 2
    topics = args.topic or [
        topic
        for listener, topic in (("ligo", settings.kafka_ligo_topic), ("icecube", settings.kafka_icecube_topic))
        if listener in settings.enabled_listeners
    ]
    failed = 0
    instance = None  # opened once, for the first notice ingested
    with opened_store(resources["product_storage"]) as store:
        for topic in topics:
            try:
                messages = list(read_topic(kafka, topic, args.max))
            except TopicUnavailable as exc:
                print(f"gwtm-cron kafka {args.action}: {exc}", file=sys.stderr)
                failed += 1
                continue
            if args.action == "list":
                print(f"{topic}: {len(messages)} message(s)", flush=True)
                for message in messages:
                    print(listing_line(message, is_landed(store, message)), flush=True)
                continue
            chosen = selected(messages, args.filter, args.exclude_mock)
            print(f"{topic}: {len(chosen)} of {len(messages)} message(s) match", flush=True)
            instance = instance or default_instance()
            for message in chosen:
                if is_landed(store, message):
                    print(f"{message.where}: {message.event} {message.alert_type} already landed as "
                          f"{message.partition_key}; not run again", flush=True)  # fmt: skip
                    continue
                result = ingest_notice(message.raw, message.where, instance, settings, resources, store)
                print(result.line(), flush=True)
                failed += not result.ok
    return 1 if failed else 0


def _migrate(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from .logging_setup import configure_logging
    from .migrate import migrate
    from .resources.builders import build_storage
    from .resources.storage import opened_store
    from .settings import ConfigurationError

    settings = GWTMSettings()
    configure_logging(settings)
    if args.source == args.dest:
        print("gwtm-cron migrate: --source and --dest are the same backend", file=sys.stderr)
        return 2

    clients = ExitStack()

    def factory(backend: str):
        side = settings.model_copy(
            update={"storage_bucket_source": backend, "write_to_storage": True, "dry_run": False}
        )
        build_storage(side)  # configuration errors surface here, before any copying
        return lambda: clients.enter_context(opened_store(build_storage(side)))

    try:
        make_source, make_dest = factory(args.source), factory(args.dest)
    except ConfigurationError as exc:
        print(f"gwtm-cron migrate: {exc}", file=sys.stderr)
        return 2
    prefix = args.container.strip("/") + "/"
    with clients:
        report = migrate(make_source, make_dest, prefix, workers=args.workers, force=args.force, dry_run=args.dry_run)
    return 0 if report.ok else 1


def _index_catalog(args: argparse.Namespace) -> int:
    """Build (or find) the HEALPix index of the configured galaxy catalog, so runs only map it."""
    from .io.galaxy_catalog import GalaxyCatalogError, cached_index, load_catalog
    from .science.galaxies import GalaxyConfigError, read_galaxy_config

    ini = args.config or GWTMSettings().path_to_galaxy_catalog_config
    if not ini:
        print("gwtm-cron index-catalog: give the .ini or set PATH_TO_GALAXY_CATALOG_CONFIG", file=sys.stderr)
        return 2
    try:
        catalog_path = read_galaxy_config(ini).catalog_path
        started = time.perf_counter()
        found = cached_index(catalog_path)
        if found is None:
            load_catalog(catalog_path)
            found = cached_index(catalog_path)
    except (GalaxyConfigError, GalaxyCatalogError) as exc:
        print(f"gwtm-cron index-catalog: {exc}", file=sys.stderr)
        return 2
    if found is None:
        print(f"gwtm-cron index-catalog: no writable place for the index of {catalog_path}", file=sys.stderr)
        return 1
    directory, catalog = found
    print(f"{len(catalog):,} galaxies of {catalog_path} indexed in {directory} ({time.perf_counter() - started:.2f} s)")
    return 0


DEV_TOOLS_MISSING = "gwtm-cron {command}: a developer tool, not in the image: in a source checkout, pip install -e '.[dev-tools]' ({exc})"


def _demo(args: argparse.Namespace) -> int:
    try:
        from .devtools.demo import main as demo_main
    except ImportError as exc:
        print(DEV_TOOLS_MISSING.format(command="demo", exc=exc), file=sys.stderr)
        return 2
    return demo_main()


def _dev_api(args: argparse.Namespace) -> int:
    try:
        from .devtools.gwtm_api_server import GWTMApiTestServer
    except ImportError as exc:
        print(DEV_TOOLS_MISSING.format(command="dev-api", exc=exc), file=sys.stderr)
        return 2

    server = GWTMApiTestServer(admin_token=args.token, port=args.port).start()
    print(f"GWTM development API at {server.base} (API_TOKEN={args.token})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def _run_workers(args: argparse.Namespace) -> int:
    from .logging_setup import configure_logging
    from .runtime.run_workers import DEFAULT_PRELOAD, PoolUnavailable, RunWorkerPoolClient, serve

    if args.check:
        try:
            answer = RunWorkerPoolClient(args.listen, token=GWTMSettings().run_workers_token).ping()
        except PoolUnavailable as exc:
            print(f"gwtm-cron run-workers: {exc}", file=sys.stderr)
            return 1
        print(
            f"run-worker pool at {args.listen}: pid {answer['pid']}, {answer['runs']} runs, {answer['workers']} running"
        )
        return 0

    settings = GWTMSettings()
    configure_logging(settings)
    serve(args.listen, args.preload or DEFAULT_PRELOAD, settings.run_workers_token)
    return 0


def _daemon(args: argparse.Namespace) -> int:
    from .logging_setup import configure_logging
    from .runtime.daemon import SensorLoopUnavailable, run_daemon

    settings = GWTMSettings()
    configure_logging(settings)
    try:
        return run_daemon(args.daemon_args, settings.sensor_loop_s)
    except SensorLoopUnavailable as exc:
        print(f"gwtm-cron daemon: {exc}", file=sys.stderr)
        return 2


def _metrics(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from .logging_setup import configure_logging
    from .monitoring.exporter import build_collector, serve

    settings = GWTMSettings()
    configure_logging(settings)
    with DagsterInstance.get() as instance:
        try:
            serve(args.listen, build_collector(settings, instance, args.pool or settings.run_workers_address))
        except (ValueError, OSError) as exc:  # a bad --listen, a port in use: one line, not a traceback
            print(f"gwtm-cron metrics: --listen {args.listen}: {exc}", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except ValidationError as exc:  # a variable set to what its setting refuses: named, not a traceback
        print(f"gwtm-cron: {invalid_settings(exc)}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="gwtm-cron", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    exit_codes = (
        "exit status: 0 every notice materialized and every science check passed; 1 some notice failed "
        "(its line says FAILED with the step and the error: for the API the endpoint, HTTP status and the "
        "server's message) or a check failed (CHECK FAILED with the check and its values); 2 bad usage"
    )
    ingest = commands.add_parser(
        "ingest", help="materialize the asset graph for saved notices", description=(
            "Materialize the asset graph for saved notices, one line per notice."), epilog=exit_codes,
    )  # fmt: skip
    ingest.add_argument("files", nargs="+", help="igwn.gwalert or IceCube notice JSON files")
    ingest.set_defaults(func=_ingest)
    replay = commands.add_parser(
        "replay", help="re-materialize stored notices (or files) in time order", epilog=exit_codes
    )
    replay.add_argument("files", nargs="*", help="notice files; default: every raw notice in storage")
    replay.add_argument(
        "--launch", action="store_true",
        help="submit replay_notices_job to the running instance (DAGSTER_HOME) instead of running in this process; "
        "the daemon registers the partitions and backfills them in time order",
    )  # fmt: skip
    replay.add_argument(
        "--workspace", default="workspace.yaml", help="workspace file of the running instance (with --launch)"
    )
    replay.set_defaults(func=_replay)
    kafka = commands.add_parser(
        "kafka", help="browse what the notice topics hold, or ingest a selection of it (offsets never move)",
        description="Read the notice topics with the sensors' settings (KAFKA_*), from each partition's first "
        "offset, under a group of their own that never commits: the sensors' offsets do not move.",
    )  # fmt: skip
    kafka_actions = kafka.add_subparsers(dest="action", required=True)
    kafka_list = kafka_actions.add_parser(
        "list", help="one line per message: offset, event, type, time_created, landed"
    )
    kafka_ingest = kafka_actions.add_parser(
        "ingest", help="land and run the matching notices in this process (as gwtm-cron ingest)", epilog=exit_codes
    )
    kafka_ingest.add_argument("--filter", default="", help="only events whose id contains this, e.g. S2511")
    kafka_ingest.add_argument("--exclude-mock", action="store_true", help="leave out mock events (MS...)")
    for action in (kafka_list, kafka_ingest):
        action.add_argument(
            "--topic", action="append", help="topic to read (repeatable; default: the enabled listeners' topics)"
        )
        action.add_argument("--max", type=int, help="read at most this many messages per topic")
        action.set_defaults(func=_kafka)
    catch_up = commands.add_parser(
        "catch-up", help="take every notice GraceDB holds for superevents (named, or created --since) not yet landed",
        description="Download every version of every notice file GWCelery uploaded to each superevent "
        "(GRACEDB_URL), oldest first, and land and run those not landed yet, as the sensor does: a notice "
        "already taken from Kafka is not run again, and nothing is posted twice.", epilog=exit_codes,
    )  # fmt: skip
    catch_up.add_argument("superevents", nargs="*", help="superevent ids, e.g. S251017at")
    catch_up.add_argument(
        "--since", help="also every superevent GraceDB created since this UTC time, e.g. 2026-11-28T00:00"
    )
    catch_up.add_argument("--include-mock", action="store_true", help="with --since, mock events (MS...) too")
    catch_up.add_argument("--dry-run", action="store_true", help="only list what would be landed")
    catch_up.add_argument(
        "--launch", action="store_true",
        help="land the notices, then hand their runs to the running instance (DAGSTER_HOME) in time order",
    )  # fmt: skip
    catch_up.add_argument(
        "--workspace", default="workspace.yaml", help="workspace file of the running instance (with --launch)"
    )
    catch_up.set_defaults(func=_catch_up)
    backends = ["local", "s3", "abfs", "swift"]
    migrate = commands.add_parser(
        "migrate", help="copy stored products between backends: streamed, verified, resumable"
    )
    migrate.add_argument(
        "--source", required=True, choices=backends, help="backend to read (configured by its environment variables)"
    )
    migrate.add_argument("--dest", required=True, choices=backends, help="backend to write")
    migrate.add_argument(
        "--container",
        required=True,
        help="what to migrate: fit (events) or test (mock events); for Azure, the container",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="list what would move and the estimated size; change nothing"
    )
    migrate.add_argument(
        "--force", action="store_true", help="copy even objects already at the destination with equal size and MD5"
    )
    migrate.add_argument("--workers", type=int, default=8, help="concurrent copies (default 8)")
    migrate.set_defaults(func=_migrate)
    index_catalog = commands.add_parser(
        "index-catalog",
        help="build the galaxy catalog's HEALPix index ahead of the first alert (after each catalog update)",
    )
    index_catalog.add_argument(
        "config", nargs="?", help="the galaxy catalog .ini; default: PATH_TO_GALAXY_CATALOG_CONFIG"
    )
    index_catalog.set_defaults(func=_index_catalog)
    demo = commands.add_parser(
        "demo",
        help="the embedded default: local broker, API and Dagster UI on the bundled samples",
        description="The listeners end to end on this machine (see README, make demo).",
        epilog="environment: DEMO_PORT (Dagster UI, default 3000), DEMO_API_PORT (development API, default 8765), "
        "DEMO_NO_UI=1 (stop after the summary), PATH_TO_GALAXY_CATALOG_CONFIG (your catalog instead of the "
        "synthetic one)",
    )
    demo.set_defaults(func=_demo)
    dev_api = commands.add_parser(
        "dev-api",
        help="serve the contract-checking GWTM API for local runs",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    dev_api.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1")
    dev_api.add_argument("--token", default="dev-admin-token", help="the admin API_TOKEN it accepts")
    dev_api.set_defaults(func=_dev_api)
    from .runtime.run_workers import ADDRESS_ENV, default_address

    run_workers = commands.add_parser(
        "run-workers",
        help="serve warm run workers to the instance's WarmRunLauncher (runs start in ms, not seconds)",
        description="Import Dagster and the code location once, then fork one worker per run launched by "
        "WarmRunLauncher (dagster.yaml). Run it next to the code server, from the same image and environment. "
        "SIGTERM/SIGINT stop it; running workers finish on their own.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run_workers.add_argument(
        "--listen", default=default_address(),
        help=f"unix:/path, unix:@name or host:port (the launcher's: {ADDRESS_ENV}, else one named after DAGSTER_HOME)",
    )  # fmt: skip
    run_workers.add_argument(
        "--preload", action="append", metavar="MODULE",
        help="module to import before forking (repeatable; default: the code location and the science libraries)",
    )  # fmt: skip
    run_workers.add_argument(
        "--check", action="store_true", help="ask the pool at --listen whether it answers (exit 0) or not (1)"
    )
    run_workers.set_defaults(func=_run_workers)
    metrics = commands.add_parser(
        "metrics",
        help="serve the listeners' Prometheus metrics (/metrics), read from the brokers and the Dagster instance",
        description="An exporter next to the daemon: per topic the broker's reachability, heartbeat and newest-notice "
        "ages and the sensors' lag; notices landed and quarantined; records posted and failed; failed partitions; "
        "produce-to-record latency; the run-worker pool. Reads DAGSTER_HOME's instance and the KAFKA_*/HOP_* settings.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    metrics.add_argument("--listen", default="127.0.0.1:9464", help="HOST:PORT to serve /metrics on")
    metrics.add_argument(
        "--pool", default="", help="run-worker pool address to report on (default: RUN_WORKERS_ADDRESS; none if unset)"
    )
    metrics.set_defaults(func=_metrics)
    daemon = commands.add_parser(
        "daemon",
        help="dagster-daemon run, its sensors passed every SENSOR_LOOP_S (0.5 s) instead of every 5 s",
        description="Run Dagster's daemons as `dagster-daemon run` does (every option after `daemon` is its own, "
        "e.g. `-w workspace.yaml`), with the sensor loop passing every SENSOR_LOOP_S: a notice that arrives "
        "right after another is read within a pass instead of up to 5 s later.",
    )
    daemon.set_defaults(func=_daemon, daemon_args=[])
    args, extra = parser.parse_known_args(argv)
    if args.command == "daemon":
        args.daemon_args = extra  # dagster-daemon run's own options
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except ConfigurationError as exc:  # the one line that matters, not a traceback
        print(f"gwtm-cron {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
