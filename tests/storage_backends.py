"""The storage backends under test, each on a real server, configured the way users configure them (settings)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from gwtm_assets.io.object_store import ObjectStore
from gwtm_assets.resources.builders import build_storage
from gwtm_assets.settings import GWTMSettings

from .keystone_swift import PASSWORD, PROJECT, USER, KeystoneSwiftServer
from .storage_servers import SWIFT_KEY, SWIFT_USER, AzuriteServer, MotoS3Server, SwiftServer

#: ``swift`` is v1 (tempauth); the ``swift-keystone-*`` backends are Swift behind a real Keystone v3:
#: user and password, the standard application-credential variables, and the deployed chart's convention
#: (a 32-hex ``OS_USERNAME`` + ``OS_PASSWORD``, ``OS_STORAGE_URL`` set to a proxy that is in no catalog).
KEYSTONE_BACKENDS = ["swift-keystone-password", "swift-keystone-appcred", "swift-keystone-deployed"]
BACKENDS = ["local", "s3-moto", "s3-swift", "abfs-azurite", "swift", *KEYSTONE_BACKENDS]


def unique_name() -> str:
    return f"gwtm-{uuid.uuid4().hex[:12]}"


@dataclass
class Backend:
    """One backend for one test: ``settings`` reach it through ``build_storage``; ``prefix`` is the test's own."""

    name: str
    settings: GWTMSettings
    prefix: str
    prepare: Callable[[], None] = lambda: None
    stop_service: Callable[[], None] | None = None
    start_service: Callable[[], None] | None = None
    wrong_credentials: GWTMSettings | None = None
    _local: threading.local = field(default_factory=threading.local)

    def store(self) -> ObjectStore:
        """A store for this thread (swiftclient connections are not thread-safe)."""
        if getattr(self._local, "store", None) is None:
            self._local.store = build_storage(self.settings).object_store()
        return self._local.store

    def fresh_store(self) -> ObjectStore:
        return build_storage(self.settings).object_store()


class Servers:
    """Session-wide servers, started on first use."""

    def __init__(self) -> None:
        self._moto: MotoS3Server | None = None
        self._azurite: AzuriteServer | None = None
        self._swift: SwiftServer | None = None
        self._keystone_swift: KeystoneSwiftServer | None = None

    @property
    def moto(self) -> MotoS3Server:
        self._moto = self._moto or MotoS3Server()
        return self._moto

    @property
    def azurite(self) -> AzuriteServer:
        self._azurite = self._azurite or AzuriteServer()
        return self._azurite

    @property
    def swift(self) -> SwiftServer:
        self._swift = self._swift or SwiftServer()
        return self._swift

    @property
    def keystone_swift(self) -> KeystoneSwiftServer:
        self._keystone_swift = self._keystone_swift or KeystoneSwiftServer()
        return self._keystone_swift

    def stop(self) -> None:
        for server in (self._moto, self._azurite, self._swift, self._keystone_swift):
            if server is not None:
                server.stop()

    def backend(self, name: str, tmp_path: Path, **overrides: object) -> Backend:
        """``name`` in BACKENDS, with ``overrides`` on its settings (e.g. ``api_base``)."""
        base = {"local_storage_dir": str(tmp_path / "storage"), "dry_run": False, "write_to_storage": True, **overrides}
        prefix = f"test/{uuid.uuid4().hex[:8]}/"
        if name == "local":
            return Backend(name, GWTMSettings(storage_bucket_source="local", **base), prefix)
        if name.startswith("s3-"):
            endpoint, key, secret = (
                (self.moto.endpoint_url, "moto-key", "moto-secret")
                if name == "s3-moto"
                else (self.swift.url, SWIFT_USER, SWIFT_KEY)
            )
            bucket = unique_name()
            settings = GWTMSettings(
                storage_bucket_source="s3", aws_bucket=bucket, aws_endpoint_url=endpoint, aws_access_key_id=key,
                aws_secret_access_key=secret, aws_default_region="us-east-1", **base,
            )  # fmt: skip

            def create_bucket() -> None:
                client = boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id=key,
                    aws_secret_access_key=secret,
                    region_name="us-east-1",
                )
                client.create_bucket(Bucket=bucket)

            create_bucket()
            if name == "s3-moto":
                # moto keeps objects in memory: a restarted server is empty, so the bucket is created again.
                def restart() -> None:
                    self.moto.start()
                    create_bucket()

                return Backend(name, settings, prefix, stop_service=self.moto.stop_service, start_service=restart)
            wrong = settings.model_copy(update={"aws_secret_access_key": "not-the-secret"})
            return Backend(name, settings, prefix, stop_service=lambda: self.swift.stop_process("proxy"),
                           start_service=self.swift.start_proxy, wrong_credentials=wrong)  # fmt: skip
        if name == "abfs-azurite":
            azurite = self.azurite
            settings = GWTMSettings(
                storage_bucket_source="abfs", azure_storage_connection_string=azurite.connection_string, **base
            )
            wrong = settings.model_copy(
                update={
                    "azure_storage_connection_string": azurite.connection_string.replace(
                        "AccountKey=Eby8", "AccountKey=AAAA"
                    )
                }
            )
            return Backend(name, settings, prefix, stop_service=lambda: azurite.stop_process("azurite"), start_service=azurite.start,
                           wrong_credentials=wrong)  # fmt: skip
        if name == "swift":
            swift = self.swift
            settings = GWTMSettings(
                storage_bucket_source="swift", os_auth_url=swift.auth_url, os_username=SWIFT_USER, os_password=SWIFT_KEY,
                os_container_name=unique_name(), **base,
            )  # fmt: skip
            wrong = settings.model_copy(update={"os_password": "not-the-key"})
            return Backend(name, settings, prefix, stop_service=lambda: swift.stop_process("proxy"), start_service=swift.start_proxy,
                           wrong_credentials=wrong)  # fmt: skip
        if name in KEYSTONE_BACKENDS:
            return self._keystone_backend(name, base)
        raise ValueError(name)

    def _keystone_backend(self, name: str, base: dict[str, object]) -> Backend:
        ks = self.keystone_swift
        common = {
            "storage_bucket_source": "swift",
            "os_auth_url": ks.auth_url,
            "os_container_name": unique_name(),
            **base,
        }
        if name == "swift-keystone-password":
            credentials = {"os_username": USER, "os_password": PASSWORD, "os_project_name": PROJECT}
            wrong, proxy = {"os_password": "not-the-key"}, "catalog"
        elif name == "swift-keystone-appcred":
            credentials = {"os_application_credential_id": ks.application_credential_id,
                           "os_application_credential_secret": ks.application_credential_secret}  # fmt: skip
            wrong, proxy = {"os_application_credential_secret": "not-the-key"}, "catalog"
        else:
            # As TheTreasureMap/gwtm's gwtm-helm passes them (gwtm.listenerEnv, storage.type swift).
            credentials = {"os_username": ks.application_credential_id, "os_password": ks.application_credential_secret,
                           "os_project_name": PROJECT, "os_storage_url": ks.storage_url("direct")}  # fmt: skip
            wrong, proxy = {"os_password": "not-the-key"}, "direct"
        settings = GWTMSettings(**common, **credentials)
        return Backend(name, settings, f"test/{uuid.uuid4().hex[:8]}/", stop_service=lambda: ks.stop_process(f"proxy-{proxy}"),
                       start_service=lambda: ks.start_proxy(proxy), wrong_credentials=settings.model_copy(update=wrong))  # fmt: skip
