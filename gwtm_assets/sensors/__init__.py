"""Sensors: Kafka polling that lands notices and requests their runs, recovery of partitions failed on an outage,
and replay of stored history.

``kafka.py`` builds the consumers (GCN through gcn-kafka, or a plain broker); ``landing.py`` holds the notice
sensors; ``recovery.py`` the recovery sensor; ``replay.py`` the replay job and its backfill sensor.
"""
