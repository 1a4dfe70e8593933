"""The one place configuration is read: the documented environment variables."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(ValueError):
    """The environment asks for something this code location cannot do; names the variable."""


def invalid_settings(exc: ValidationError) -> str:
    """One line naming each variable the environment set to a value its setting refuses, and why (secrets hidden)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = GWTMSettings.model_fields.get(name)
        value = "(hidden)" if field is not None and field.repr is False else repr(error["input"])
        lines.append(f"{name.upper()}={value}: {error['msg']}")
    return "; ".join(lines)


class GWTMSettings(BaseSettings):
    """Environment variables the listeners have always been deployed with, plus the new ones.

    Booleans accept ``true``/``1``/``false``/``0`` (case-insensitive).
    """

    # An empty variable means "not set" (docker compose passes `${NAME:-}` for every variable).
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_ignore_empty=True)

    # GCN Kafka
    kafka_client_id: str = Field("", description="GCN Kafka client ID (OIDC client credentials).")
    kafka_client_secret: str = Field("", description="GCN Kafka client secret.", repr=False)
    kafka_bootstrap_servers: str = Field("", description="Plain Kafka bootstrap servers (self-hosted/local broker).")
    kafka_group_id: str = Field(
        "gwtm-listeners",
        description="Stable consumer group; offsets are committed after each notice is landed (lag is visible).",
    )
    kafka_offset_reset: Literal["latest", "earliest"] = Field(
        "latest", description="Where a new group starts: `latest`, or `earliest` to replay the broker's buffer."
    )
    kafka_consumer_options: str = Field(
        "",
        description='Extra librdkafka consumer options as a JSON object, e.g. `{"socket.timeout.ms": 30000}`; '
        "default `broker.address.family=v4` (GCN over IPv6 fails on some clusters). Options that would break "
        "exactly-once (`enable.auto.commit`, ...) are refused when the code location loads.",
    )
    kafka_ligo_topic: str = Field("igwn.gwalert", description="Topic of LIGO/Virgo/KAGRA notices.")
    kafka_icecube_topic: str = Field("gcn.notices.icecube.lvk_nu_track_search", description="Topic of IceCube notices.")

    kafka_heartbeat_topic: str = Field(
        "",
        description="Topic of the broker's heartbeat, whose age tells a quiet stream from a dead one; empty: "
        "`gcn.heartbeat` on GCN (`KAFKA_CLIENT_ID` set), none on a plain broker.",
    )
    heartbeat_max_age_s: float = Field(
        120.0, gt=0, description="Seconds without a heartbeat after which the stream is down (metrics, UI check)."
    )

    # SCiMMA Hopskotch: a second source of the LIGO alerts (Avro)
    hop_url: str = Field(
        "",
        description="Hopskotch topic of the LIGO alerts, read beside GCN's, e.g. "
        "`kafka://kafka.scimma.org/igwn.gwalert`; empty: off. One alert from both brokers is one partition.",
    )
    hop_username: str = Field("", description="Hopskotch SCRAM credential (username); empty: a plain broker.")
    hop_password: str = Field("", description="Hopskotch SCRAM credential (password).", repr=False)

    # GraceDB (catch-up)
    gracedb_url: str = Field(
        "https://gracedb.ligo.org/api/",
        description="GraceDB API root that `gwtm-cron catch-up` reads superevents and their notice files from "
        "(public superevents need no credentials).",
    )
    gracedb_timeout_s: float = Field(
        30.0, gt=0, description="Seconds to wait for one GraceDB answer before retrying it (with backoff)."
    )

    # GWTM API
    api_token: str = Field("", description="GWTM API token (admin for posting alerts).", repr=False)
    api_base: str = Field(
        "",
        description="GWTM API root, e.g. `https://treasuremap.space/api/v1/`. Empty: records are logged, not posted, and repeated types are numbered from the ledger.",
    )

    # Storage
    storage_bucket_source: Literal["local", "s3", "abfs", "swift"] = Field(
        "local",
        description="Storage backend: `local`, `s3`, `abfs` (Azure Blob) or `swift` (OpenStack). Incomplete settings fail when the code location loads, naming the variable.",
    )
    local_storage_dir: str = Field("./gwtm-data", description="Root directory of the local backend.")
    aws_bucket: str = Field("gwtreasuremap", description="S3 bucket.")
    aws_default_region: str = Field("us-east-2", description="AWS region.")
    aws_endpoint_url: str = Field(
        "", description="S3-compatible endpoint instead of AWS (MinIO, Ceph, Swift's S3 API)."
    )
    aws_access_key_id: str = Field("", description="AWS access key; empty: boto3's default credential chain.")
    aws_secret_access_key: str = Field("", description="AWS secret key.", repr=False)
    azure_account_name: str = Field("", description="Azure storage account name.")
    azure_account_key: str = Field("", description="Azure storage account key.", repr=False)
    azure_storage_connection_string: str = Field(
        "",
        description="Azure connection string (Azurite, other endpoints); overrides the account name/key.",
        repr=False,
    )
    os_auth_url: str = Field("", description="OpenStack auth endpoint: Keystone v3 (`.../v3`) or v1 (`.../auth/v1.0`).")
    os_username: str = Field(
        "",
        description="OpenStack user (v3) or `account:user` (v1). 32 hex digits (a Keystone id): an application "
        "credential id, as the deployed chart passes it, with `OS_PASSWORD` its secret.",
    )
    os_password: str = Field(
        "", description="OpenStack password (v3), key (v1), or the application credential's secret.", repr=False
    )
    os_project_name: str = Field("", description="OpenStack project (tenant).")
    os_user_domain_name: str = Field("Default", description="Keystone user domain.")
    os_project_domain_name: str = Field("Default", description="Keystone project domain.")
    os_application_credential_id: str = Field(
        "", description="Keystone application credential id (instead of user/password)."
    )
    os_application_credential_secret: str = Field("", description="Keystone application credential secret.", repr=False)
    os_region_name: str = Field("", description="OpenStack region of the object store endpoint.")
    os_storage_url: str = Field(
        "",
        description="Swift object-storage URL (e.g. `https://host:8001/swift/v1`), used instead of the endpoint in "
        "Keystone's service catalog.",
    )
    os_container_name: str = Field("gwtreasuremap", description="Swift container.")

    # Behaviour
    listeners: str = Field(
        "ligo,icecube",
        description="Which listeners' sensors start running: `ligo`, `icecube` or both (comma-separated).",
    )
    observing_run: str = Field("O4", description="Observing run identifier posted with each alert.")
    path_to_galaxy_catalog_config: str = Field(
        "",
        description="Galaxy catalog `.ini` (`[GALAXIES]` CATALOG_PATH, CREDZONE, ...); empty: no galaxy lists. Checked when the code location loads.",
    )
    galaxy_catalog_key: str = Field(
        "",
        description="Storage key of the galaxy catalog in the configured backend (e.g. "
        "`galaxy_catalog/NEDLVS_20250602.fits`), used instead of the `.ini`'s CATALOG_PATH: copied into "
        "`<LOCAL_STORAGE_DIR>/.cache/galaxy_catalog` when the code location loads, again only when its size or "
        "MD5 changes. A missing object stops the load.",
    )
    fermi_tle_source: str = Field(
        "https://celestrak.org/NORAD/elements/gp.php?CATNR=33053&FORMAT=TLE",
        description="Fermi element sets: URL of a GP/TLE service, or a TLE file or directory. Fetched only when the cache has no set within a day of the signal.",
    )
    fermi_ft2_source: str = Field(
        "",
        description="Fermi spacecraft (FT2) files for the LAT pointing: a directory, or a URL template formatted with the signal time (`{time:%Y%m%d}`). Empty: no LAT product.",
    )
    fermi_cache_dir: str = Field(
        "", description="Cache of fetched element sets and FT2 files; empty: `<LOCAL_STORAGE_DIR>/.cache/fermi`."
    )
    dry_run: bool = Field(
        False,
        description="`true`/`1`: no API calls, no writes to the configured storage (products go to `<LOCAL_STORAGE_DIR>/.dry-run`).",
    )
    write_to_storage: bool = Field(
        True, description="`false`/`0`: products go to the local scratch instead of the configured storage."
    )
    verbose: bool = Field(True, description="`false`/`0`: warnings and errors only.")
    log_format: Literal["text", "json"] = Field(
        "text",
        validation_alias=AliasChoices("log_format"),
        description="`json`: one JSON object per line (Kubernetes); `text` otherwise.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="`DEBUG` ... `CRITICAL`."
    )
    flat_map_nside: int = Field(512, description="Resolution of the flat .fits.gz sky map (never finer than the map).")

    # Notifications (a partition failed for good, a stream down): Slack and/or email; off when unset
    slack_token: str = Field("", description="Slack bot token (`chat:write`); with `SLACK_CHANNEL`.", repr=False)
    slack_channel: str = Field("", description="Slack channel the notifications go to, e.g. `#gwtm-ops`.")
    slack_webhook_url: str = Field(
        "", description="Slack incoming-webhook URL (instead of, or beside, a token).", repr=False
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API root (a proxy).")
    smtp_host: str = Field("", description="SMTP server for notification emails; empty: no email.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_starttls: bool = Field(True, description="`false`/`0`: no STARTTLS (a relay on a trusted network).")
    smtp_username: str = Field("", description="SMTP login; empty: none.")
    smtp_password: str = Field("", description="SMTP password.", repr=False)
    smtp_from: str = Field("", description="Sender of the notification emails.")
    smtp_to: str = Field("", description="Recipients of the notification emails, comma-separated.")
    dagster_ui_url: str = Field("", description="The Dagster UI's address, for links in notifications.")

    # Recovery after outages (failed_notice_recovery_sensor)
    recovery_first_delay_s: float = Field(
        60.0, description="Seconds before a notice whose run failed on an outage is tried again; doubles per failure."
    )
    recovery_max_delay_s: float = Field(3600.0, description="Longest wait between two tries of a failed notice.")
    recovery_max_attempts: int = Field(
        12, description="Failed runs after which a notice is left to the operator (the defaults span about 7 h)."
    )
    run_workers_address: str = Field(
        "",
        description="Where `gwtm-cron run-workers` listens and `WarmRunLauncher` sends runs: `host:port`, "
        "`unix:/path` or `unix:@name`. Empty: an abstract Unix socket named after `DAGSTER_HOME` (one host).",
    )

    sensor_loop_s: float = Field(
        0.5,
        gt=0,
        le=5,
        description="How often `gwtm-cron daemon` passes over the sensors (`dagster-daemon run`: every 5 s). A notice "
        "arriving just after another waits up to this long, plus a tick's start, instead of up to 5 s.",
    )

    run_workers_token: str = Field(
        "",
        description="Shared secret every request to the run-worker pool must carry (the pool and the daemon both "
        "read it; compose, Kubernetes: a Secret). Empty: none, for a pool on a Unix socket or loopback only.",
        repr=False,
    )

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return "json" if str(value).lower() == "json" else "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return str(value).upper()

    @field_validator("storage_bucket_source", "kafka_offset_reset", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return str(value).lower()

    @staticmethod
    def default(name: str) -> Any:
        """The default of one setting: resources take theirs from here, so a default is written once."""
        return GWTMSettings.model_fields[name].default

    @property
    def enabled_listeners(self) -> set[str]:
        return {name.strip().lower() for name in self.listeners.split(",") if name.strip()}

    @property
    def heartbeat_topic(self) -> str:
        return self.kafka_heartbeat_topic or ("gcn.heartbeat" if self.kafka_client_id else "")

    @property
    def writes_enabled(self) -> bool:
        return self.write_to_storage and not self.dry_run

    @property
    def posts_enabled(self) -> bool:
        return bool(self.api_base) and not self.dry_run
