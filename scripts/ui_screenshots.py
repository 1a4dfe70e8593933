"""Screenshots of what an operator sees in the Dagster UI after `make demo`, with headless Chromium.

Runs the demo (broker, daemon, UI, API double; the samples go through the
sensors) in a scratch directory, then saves PNGs of: the ligo group's lineage,
the partition view of one alert's ``skymap_plot`` (the picture inline), the
checks of ``contours`` per partition, and the runs list with their
``gwtm/event`` tags. Stops the demo (SIGTERM) and prints the files written.

    python scripts/ui_screenshots.py [--out ui-screenshots]

Needs ``chromium`` (Debian package ``chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

import requests

from gwtm_assets.devtools.tansu import free_port

REPO = Path(__file__).resolve().parent.parent
PARTITION_QUERY = """{ assetNodeOrError(assetKey: {path: ["skymap_plot"]}) {
  ... on AssetNode { assetMaterializations(limit: 20) { partition } } } }"""


def wait_for_summary(demo: subprocess.Popen, timeout_s: float) -> str:
    """The demo's stdout up to its products summary (it then keeps the UI up)."""
    lines, deadline = [], time.monotonic() + timeout_s
    assert demo.stdout is not None
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            raise RuntimeError("the demo exited before its summary:\n" + "".join(lines[-30:]))
        lines.append(line)
        if line.startswith("Products in"):
            return "".join(lines)
    raise TimeoutError("no summary from the demo in time")


class Chromium:
    """Headless Chromium driven over the DevTools protocol: open a page, wait for text, click, screenshot."""

    def __init__(self) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="gwtm-chromium-")
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={self.profile}", f"--remote-debugging-port={self.port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.ids = iter(range(1, 1 << 30))
        self.socket = None

    async def __aenter__(self) -> Self:
        import websockets

        for _ in range(100):
            try:
                pages = await asyncio.to_thread(self.targets)
                target = next(p for p in pages if p["type"] == "page")
                break
            except (requests.RequestException, StopIteration):
                await asyncio.sleep(0.2)
        self.socket = await websockets.connect(target["webSocketDebuggerUrl"], max_size=1 << 28)
        await self.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
                        mobile=False)  # fmt: skip
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)

    def targets(self) -> list[dict]:
        return requests.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2).json()

    async def call(self, method: str, **params: object) -> dict:
        call_id = next(self.ids)
        await self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str) -> object:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    async def open(self, url: str, text: str, timeout_s: float = 60) -> None:
        """Navigate and wait until ``text`` shows on the page."""
        await self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        while not await self.evaluate(f"document.body && document.body.innerText.includes({json.dumps(text)})"):
            if time.monotonic() > deadline:
                shown = Path(tempfile.mkstemp(prefix="gwtm-ui-timeout-", suffix=".png")[1])
                await self.screenshot(shown)
                raise TimeoutError(f"{url}: {text!r} never showed (the page as it was: {shown})")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # let images and late queries settle

    async def click(self, text: str) -> None:
        """Click the last element whose own text is ``text``."""
        found = await self.evaluate(
            "(() => { const all = [...document.querySelectorAll('*')].filter("
            f"e => e.childElementCount === 0 && e.textContent.trim() === {json.dumps(text)});"
            " if (!all.length) return false; all[all.length - 1].click(); return true; })()"
        )
        if not found:
            raise RuntimeError(f"nothing to click labelled {text!r}")
        await asyncio.sleep(2)

    async def screenshot(self, path: Path) -> None:
        data = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))


async def take_screenshots(base: str, partition: str, out: Path) -> list[str]:
    plot = f"{partition.rsplit('-', 1)[0]}-skymap.png"
    async with Chromium() as browser:
        # The whole ligo graph: everything upstream of its last asset.
        await browser.open(f"{base}/assets/expired_mock_alerts?view=lineage&lineageScope=upstream&lineageDepth=10",
                           "api_record")  # fmt: skip
        await browser.screenshot(out / "ligo-lineage.png")
        await browser.open(f"{base}/assets/skymap_plot?view=partitions&partition={partition}", plot)
        await browser.screenshot(out / "skymap-plot-partition.png")
        await browser.click("[Show Markdown]")
        await browser.screenshot(out / "skymap-plot-picture.png")
        await browser.open(f"{base}/assets/contours?view=checks", "contours_enclose_their_probability")
        await browser.screenshot(out / "contours-checks.png")
        await browser.open(f"{base}/runs", "gwtm/event")
        await browser.screenshot(out / "runs.png")
    return [
        "ligo-lineage.png",
        "skymap-plot-partition.png",
        "skymap-plot-picture.png",
        "contours-checks.png",
        "runs.png",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("ui-screenshots"))
    args = parser.parse_args()
    if not shutil.which("chromium"):
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gwtm-ui-"))
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(scratch / "home"), "LOCAL_STORAGE_DIR": str(scratch / "data"),
           "DEMO_PORT": str(port), "DEMO_API_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env.pop("DEMO_NO_UI", None)
    demo = subprocess.Popen([sys.executable, "-m", "gwtm_assets.cli", "demo"], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        print(wait_for_summary(demo, 600), end="")
        base = f"http://127.0.0.1:{port}"
        graphql = f"{base}/graphql"
        # The first-visit community sign-up dialog would cover every page.
        requests.post(graphql, json={"query": "mutation { setNuxSeen }"}, timeout=30).raise_for_status()
        answer = requests.post(graphql, json={"query": PARTITION_QUERY}, timeout=30).json()
        partitions = [m["partition"] for m in answer["data"]["assetNodeOrError"]["assetMaterializations"]]
        partition = next(p for p in partitions if p.startswith("S230518h")) if partitions else ""
        for name in asyncio.run(take_screenshots(base, partition, args.out)):
            print(args.out / name)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
