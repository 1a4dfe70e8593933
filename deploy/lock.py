"""Write ``deploy/constraints.txt``: every package the image installs, pinned, as pip resolves ``.[deploy]`` today.

    python deploy/lock.py

The Dockerfile installs with ``-c deploy/constraints.txt``, so a new release of
any dependency (SQLAlchemy 2.1 broke PostgreSQL storage once) reaches the
image only through a reviewed change of this file.
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
OUT = REPO / "deploy" / "constraints.txt"


def resolve() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, project / name)
        for package in ("gwtm_assets", "gwtm_sensors"):
            (project / package).mkdir()
            (project / package / "__init__.py").touch()
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
             str(report), f"{project}[deploy]"], check=True, env={**os.environ, "PIP_CONSTRAINT": ""},
        )  # fmt: skip
        installed = json.loads(report.read_text())["install"]
    return sorted(
        (i["metadata"]["name"], i["metadata"]["version"]) for i in installed if i["metadata"]["name"] != "gwtm-cron"
    )


def main() -> None:
    header = (
        "# Every package of the image, pinned: `pip install -c deploy/constraints.txt '.[deploy]'` (Dockerfile).\n"
        "# Regenerate after changing pyproject.toml: python deploy/lock.py\n"
    )
    OUT.write_text(header + "".join(f"{name}=={version}\n" for name, version in resolve()))
    print(OUT)


if __name__ == "__main__":
    main()
