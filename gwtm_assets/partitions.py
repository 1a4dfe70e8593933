"""Dynamic partitions: one per notice, keyed ``<id>-<Type>-<digest of the bytes>``.

Keys are derived only from the notice, so adding the same notice twice is
harmless.
"""

from dagster import DynamicPartitionsDefinition

gw_alert_partitions = DynamicPartitionsDefinition(name="gw_alerts")
icecube_notice_partitions = DynamicPartitionsDefinition(name="icecube_notices")
