"""What deriving a LIGO partition key from the alert's content costs, against the raw-bytes key it replaced.

The content key (``notices/ligo.py``, ``content_digest``) decodes the base64 sky maps and digests a canonical
form, so that the JSON (GCN) and Avro (Hopskotch) copies of one alert are one partition. Per sample: the median
time of the old key (SHA-256 of the raw bytes), of the new one, of parsing the notice (which every landing does
anyway), and of reading Hopskotch's Avro copy into the JSON that is landed.

    python benchmarks/bench_partition_key.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gwtm_assets.notices.avro import json_notice  # noqa: E402
from gwtm_assets.notices.ligo import content_digest, notice_digest, parse_ligo_notice  # noqa: E402
from tests.lvk_copies import alert_of, avro_copy  # noqa: E402


def median_ms(function, argument, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(argument)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(
        f"{'sample':<30} {'bytes':>10} {'raw key ms':>11} {'content key ms':>15} {'parse ms':>9} {'avro->json ms':>14}"
    )
    for path in sorted((REPO / "samples" / "ligo").glob("*.json")):
        raw = path.read_bytes()
        notice = parse_ligo_notice(raw)
        avro = avro_copy(alert_of(path))
        raw_ms = median_ms(notice_digest, raw, args.repeats)
        content_ms = median_ms(content_digest, notice.content, args.repeats)
        parse_ms = median_ms(parse_ligo_notice, raw, args.repeats)
        avro_ms = median_ms(json_notice, avro, args.repeats)
        print(f"{path.stem:<30} {len(raw):>10,} {raw_ms:>11.2f} {content_ms:>15.2f} {parse_ms:>9.2f} {avro_ms:>14.2f}")


if __name__ == "__main__":
    main()
