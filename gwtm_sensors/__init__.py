"""Kafka-polling sensors that add a partition and request a run per notice (igwn.gwalert, IceCube).

``kafka.py`` builds the consumers (GCN through gcn-kafka, or a plain broker);
``sensors.py`` holds the sensors and the jobs they launch.
"""
