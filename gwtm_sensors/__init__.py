"""Kafka-polling sensors that add a partition per notice (igwn.gwalert, IceCube).

Not yet written: until then notices enter through ``gwtm-cron ingest``,
which lands the raw bytes and adds the partition the same way a sensor will.
"""
