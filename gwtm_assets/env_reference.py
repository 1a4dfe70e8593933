"""The environment-variable reference in README.md, generated from the settings so it cannot drift.

python -m gwtm_assets.env_reference          # print the table
python -m gwtm_assets.env_reference --write  # rewrite it in README.md (between the markers)
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .settings import GWTMSettings

START, END = "<!-- env-reference:start -->", "<!-- env-reference:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def reference_table() -> str:
    """One row per setting: variable, meaning (the field's description), default; secrets marked."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for name, field in GWTMSettings.model_fields.items():
        default = field.default
        shown = (
            "empty" if default in ("", None) else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        )
        secret = " Secret: never logged." if field.repr is False else ""
        rows.append(f"| `{name.upper()}` | {field.description}{secret} | {shown} |")
    return "\n".join(rows)


def rewrite(text: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {START} ... {END} block")
    return pattern.sub(lambda _: f"{START}\n{reference_table()}\n{END}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args()
    if args.write:
        README.write_text(rewrite(README.read_text()))
    else:
        print(reference_table())


if __name__ == "__main__":
    main()
