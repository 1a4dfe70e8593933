#!/usr/bin/env python3
"""Copy stored products between storage backends: the command users already run.

    python scripts/migrate_storage.py --source s3 --dest swift --container fit [--dry-run] [--force] [--workers N]

Same as ``gwtm-cron migrate``; see gwtm_assets/migrate.py.
"""

import sys

from gwtm_assets.cli import main

if __name__ == "__main__":
    sys.exit(main(["migrate", *sys.argv[1:]]))
