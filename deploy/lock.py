"""Write the locks: ``deploy/constraints.txt``, every package the image installs (``.[deploy]``), and
``deploy/constraints-dev.txt``, the development and test environment (``.[deploy,test]``), resolved under the
image's pins so that tests run the versions production runs.

    python deploy/lock.py

The Dockerfile installs with ``-c deploy/constraints.txt`` and ``make install`` with ``-c deploy/constraints-dev.txt``,
so a new release of any dependency (SQLAlchemy 2.1 broke PostgreSQL storage once) reaches the image or the tests
only through a reviewed change of these files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_LOCK = REPO / "deploy" / "constraints.txt"
DEV_LOCK = REPO / "deploy" / "constraints-dev.txt"


def resolve(extras: str, constraints: Path | None = None) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, project / name)
        for package in ("gwtm_assets",):
            (project / package).mkdir()
            (project / package / "__init__.py").touch()
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
             str(report), f"{project}[{extras}]"], check=True,
            env={**os.environ, "PIP_CONSTRAINT": str(constraints) if constraints else ""},
        )  # fmt: skip
        installed = json.loads(report.read_text())["install"]
    return sorted(
        (i["metadata"]["name"], i["metadata"]["version"]) for i in installed if i["metadata"]["name"] != "gwtm-cron"
    )


def write(path: Path, header: str, pins: list[tuple[str, str]]) -> None:
    path.write_text(header + "".join(f"{name}=={version}\n" for name, version in pins))
    print(path)


def main() -> None:
    regenerate = "# Regenerate after changing pyproject.toml: python deploy/lock.py\n"
    write(
        IMAGE_LOCK,
        "# Every package of the image, pinned: `pip install -c deploy/constraints.txt '.[deploy]'` (Dockerfile).\n"
        + regenerate,
        resolve("deploy"),
    )
    write(
        DEV_LOCK,
        "# The development and test environment, pinned under the image's pins (`make install`).\n" + regenerate,
        resolve("deploy,test", constraints=IMAGE_LOCK),
    )


if __name__ == "__main__":
    main()
