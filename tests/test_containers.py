"""The shipped image and compose stack, run for real: built, brought up as written, fed notices, restarted, torn down.

Slow the first time on a machine (base images from Debian, then the image: ~15 min); later runs reuse both.
"""

import json
import time

import pytest

from gwtm_assets.devtools.daemon import wait_for
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import free_port
from gwtm_assets.notices.ligo import parse_ligo_notice

from .conftest import ICECUBE_SAMPLES, TIME_ORDER, sample
from .container_stack import (
    LIST_OBJECTS,
    PUBLISH,
    REPO,
    RUN_WORKERS_OF_RUNS,
    ComposeStack,
    base_images,
    build_image,
    timed,
)

pytestmark = pytest.mark.timeout(3600)
TOKEN = "compose-admin-token"
SERVICES = {"postgres", "code-location", "run-workers", "webserver", "daemon", "metrics", "tansu", "minio"}


SCRAPE_METRICS = (
    "import urllib.request as u; print(u.urlopen('http://metrics:9464/metrics', timeout=30).read().decode())"
)


def _local_env(api_port: int, ui_port: int, metrics_port: int) -> dict[str, str]:
    env = {}
    for line in (REPO / "deploy" / "local.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env | {
        "API_BASE": f"http://host.containers.internal:{api_port}/api/v1/",
        "API_TOKEN": TOKEN,
        "DAGSTER_UI_PORT": str(ui_port),
        "GWTM_METRICS_PORT": str(metrics_port),
        # The pool refuses requests without it: runs reaching warm workers, the health checks passing and the
        # exporter seeing the pool show every service of the stack carries it.
        "RUN_WORKERS_TOKEN": "compose-test-pool-token",
        "LOG_LEVEL": "INFO",
    }


def _publish(stack: ComposeStack, messages: list[tuple[str, bytes]]) -> None:
    payload = json.dumps([[topic, raw.decode("latin-1")] for topic, raw in messages]).encode()
    stack.exec("code-location", "python", "-c", PUBLISH, stdin=payload)


def test_the_image_builds_and_the_compose_stack_runs_notices_end_to_end():
    timings: dict[str, float] = {}
    timed("base_images_s", timings, base_images)
    timed("image_build_s", timings, build_image)
    api_port, ui_port, metrics_port = free_port(), free_port(), free_port()
    with GWTMApiTestServer(admin_token=TOKEN, host="0.0.0.0", port=api_port) as api:
        with ComposeStack(_local_env(api_port, ui_port, metrics_port)) as stack:
            timed("compose_up_s", timings, stack.compose, "up", "-d", timeout=900)
            started = time.monotonic()

            def healthy():
                state = stack.state()
                ready = {s: v for s, v in state.items() if s in SERVICES}
                return set(ready) == SERVICES and all(v in ("healthy", "running") for v in ready.values()) and state

            try:
                wait_for(healthy, 600, "every service healthy", interval_s=3)
            except AssertionError:
                logs = "\n".join(f"== {s}\n{stack.logs(s)}" for s in ("daemon", "webserver", "metrics"))
                raise AssertionError(f"{stack.state()}\n{logs}") from None
            timings["healthy_after_up_s"] = round(time.monotonic() - started, 1)
            assert stack.state().get("minio-bucket") in ("exited", "stopped", "running")

            # One LIGO notice and one IceCube notice first; then an event's life, with the daemon restarted midway.
            first = [("igwn.gwalert", sample("S230518h-preliminary").read_bytes()),
                     ("gcn.notices.icecube.lvk_nu_track_search", ICECUBE_SAMPLES[0].read_bytes())]  # fmt: skip
            published = time.monotonic()
            _publish(stack, first)
            wait_for(lambda: api.state.posted("post_alert") and api.state.posted("post_icecube_notice"), 300,
                     "the first records at the API")  # fmt: skip
            timings["first_record_s"] = round(time.monotonic() - published, 1)

            life = [("igwn.gwalert", sample(n).read_bytes()) for n in TIME_ORDER if n.startswith("MS181101ab")]
            _publish(stack, life[:3])
            wait_for(lambda: any(r.body["graceid"] == "MS181101ab" for r in api.state.posted("post_alert")), 300,
                     "the first MS181101ab record")  # fmt: skip
            stack.compose("restart", "-t", "30", "daemon", timeout=300)
            _publish(stack, life[3:])
            expected = ["EarlyWarning", "Preliminary", "Initial", "Update", "Update", "Update-ExtCoinc", "Retraction"]

            def posted() -> list[str]:
                return [
                    r.body["alert_type"] for r in api.state.posted("post_alert") if r.body["graceid"] == "MS181101ab"
                ]

            wait_for(lambda: len(posted()) >= len(expected), 600, "every MS181101ab record after the restart")
            time.sleep(15)  # anything posted twice would arrive now
            assert posted() == expected
            assert [
                r.body["alert_type"] for r in api.state.posted("post_alert") if r.body["graceid"] == "S230518h"
            ] == ["Preliminary"]
            assert len(api.state.icecube_notices) == 1

            def products():
                return set(stack.exec("code-location", "python", "-c", LIST_OBJECTS).split())

            wanted = {"fit/S230518h-Preliminary.fits.gz", "fit/S230518h-Preliminary-contours-smooth.json",
                      "test/MS181101ab-Update1_alert.json", "test/MS181101ab-Update-ExtCoinc.fits.gz",
                      "test/MS181101ab-Retraction_alert.json"}  # fmt: skip
            wait_for(lambda: wanted <= products(), 300, "the products in the stack's S3 store")
            key = parse_ligo_notice(first[0][1]).partition_key
            assert f"fit/incoming/{key}.json" in products()
            # Every notice's run went to the warm run-worker pool, none to a new process.
            runs = json.loads(stack.exec("code-location", "python", "-c", RUN_WORKERS_OF_RUNS))
            assert runs and all(worker == "warm" for worker, _ in runs), runs
            # The metrics service as a Prometheus in the stack's network scrapes it: the records, the stream, the pool.
            metrics = stack.exec("metrics", "python", "-c", SCRAPE_METRICS)
            assert 'gwtm_records_posted_total{endpoint="post_alert"} 8.0' in metrics, metrics
            assert 'gwtm_stream_up{source="kafka",topic="igwn.gwalert"} 1.0' in metrics, metrics
            assert "gwtm_run_workers_up 1.0" in metrics, metrics
        assert stack.leftovers() == {"containers": [], "volumes": []}
    timings["total_s"] = round(sum(v for k, v in timings.items() if k.endswith("_s") and k != "total_s"), 1)
    print("container stack timings:", json.dumps(timings))  # quoted in benchmarks/RESULTS.md
