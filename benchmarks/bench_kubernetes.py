"""The listeners' chart on a real single-node Kubernetes: set-up times, notice -> record, the pods' peak memory.

Brings up the cluster of ``scripts/kubernetes/cluster.sh`` with the chart installed exactly as
``tests/test_kubernetes.py`` does (``tests/kubernetes_cluster.py``), then publishes ``--notices`` LIGO notices one at
a time, each after the previous one's runs finished, and times each from produce to its record at the GWTM API
double (warm run-worker pool). Prints the set-up steps, p50/p95/max of the latency and each pod's peak memory
(its cgroup's ``memory.max_usage_in_bytes``). Needs root, as the cluster does.

    python benchmarks/bench_kubernetes.py [--notices 10]
    python benchmarks/bench_kubernetes.py --cold   # also times building the cluster from source into a new cache
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="time a cluster build into an empty cache first")
    args = parser.parse_args()

    from tests import kubernetes_cluster as k8s

    reason = k8s.missing_piece()
    if reason:
        sys.exit(f"bench_kubernetes: no Kubernetes here: {reason}")
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="gwtm-k8s-cold-") as cache:
            started = time.monotonic()
            k8s.run("bash", str(k8s.CLUSTER), "build", timeout=3600, env={**os.environ, "K8S_DIR": cache})
            print(f"cold cluster build (compile from Debian's source, empty cache): {time.monotonic() - started:.0f} s")
    timings: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-k8s-") as workdir,
        k8s.listeners_on_cluster(Path(workdir), timings) as cluster,
    ):
        latencies = []
        for index in range(args.notices):
            raw = k8s.new_event(100 + index)
            event = k8s.superevent(raw)
            produced = time.monotonic()
            cluster.broker.produce(k8s.LIGO_TOPIC, [raw])
            k8s.wait_for(lambda event=event: cluster.records().get(event), 180, "a record", every_s=0.02)
            latencies.append(time.monotonic() - produced)
            k8s.wait_for(cluster.idle, 180, "the notice's runs finished")
        assert all(count == 1 for count in cluster.records().values()), cluster.records()
        memory = {p["metadata"]["labels"]["app.kubernetes.io/component"]: k8s.peak_memory_mib(p) for p in k8s.pods()}
    print("set-up (s): " + ", ".join(f"{step} {seconds}" for step, seconds in timings.items()))
    ordered = sorted(latencies)
    print(f"notice -> record, {len(latencies)} notices one at a time (warm pool): "
          f"p50 {statistics.median(latencies):.2f} s, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s, "
          f"max {ordered[-1]:.2f} s")  # fmt: skip
    print("peak memory per pod (MiB): " + ", ".join(f"{c} {m:.0f}" for c, m in sorted(memory.items()) if m))


if __name__ == "__main__":
    main()
