#!/opt/tools/bin/python
"""`mc alias set NAME URL USER PASSWORD` and `mc mb [--ignore-existing] NAME/BUCKET`, over boto3."""

import json
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ALIASES = Path("/tmp/mc-aliases.json")


def main(args: list[str]) -> int:
    aliases = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
    if args[:2] == ["alias", "set"]:
        name, url, user, password = args[2:6]
        try:
            boto3.client(
                "s3", endpoint_url=url, aws_access_key_id=user, aws_secret_access_key=password, region_name="us-east-1"
            ).list_buckets()
        except (BotoCoreError, ClientError) as exc:
            print(f"mc: {url} not reachable: {exc}", file=sys.stderr)
            return 1
        ALIASES.write_text(json.dumps(aliases | {name: [url, user, password]}))
        return 0
    if args[:1] == ["mb"]:
        target = next(a for a in args[1:] if not a.startswith("--"))
        name, bucket = target.split("/", 1)
        url, user, password = aliases[name]
        client = boto3.client(
            "s3", endpoint_url=url, aws_access_key_id=user, aws_secret_access_key=password, region_name="us-east-1"
        )
        if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
            client.create_bucket(Bucket=bucket)
        print(f"Bucket created successfully `{target}`.")
        return 0
    print(f"mc stand-in: unsupported command {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
