"""Product storage in OpenStack Swift through a resource of ours on python-swiftclient."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from dagster import ConfigurableResource
from pydantic import Field

from ..io.object_store import ObjectStore
from ..process_cache import ProcessCache
from ..settings import GWTMSettings
from .storage import ProductStorage

#: Keystone ids are 32 lowercase hex digits. The deployed chart (TheTreasureMap/gwtm ``gwtm-helm``), the GWTM
#: server (``server/utils/gwtm_io.py``) and the earlier listener all read an ``OS_USERNAME`` of this shape as an
#: application credential id and ``OS_PASSWORD`` as its secret.
APPLICATION_CREDENTIAL_ID = re.compile(r"[0-9a-f]{32}")

AuthMethod = Literal["v1", "password", "application_credential"]

#: keystoneauth sessions by process and credentials. Dagster initializes a nested resource once for every
#: resource holding it (the storage sits in three IO managers and the ledger), and each copy would otherwise ask
#: Keystone for a token of its own: four per run. A session renews its token itself when it expires; the pid keeps
#: a forked run worker off its parent's pooled connections.
KEYSTONE_SESSIONS: ProcessCache[Any] = ProcessCache()


@dataclass(frozen=True)
class SwiftAuth:
    """How to authenticate, and the variables an operator must check when Keystone says no."""

    method: AuthMethod
    variables: str
    user: str = ""
    secret: str = ""


def swift_auth(
    auth_url: str,
    username: str,
    password: str,
    application_credential_id: str = "",
    application_credential_secret: str = "",
) -> SwiftAuth:
    """The rule that picks the authentication: v1 tempauth by its URL; Keystone v3 application credential by the
    standard variables, or by a 32-hex ``OS_USERNAME`` (the deployed convention); else v3 user and password."""
    if "/auth/v1" in auth_url:
        return SwiftAuth("v1", "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD (v1 auth)", username, password)
    if application_credential_id:
        return SwiftAuth(
            "application_credential",
            "OS_AUTH_URL/OS_APPLICATION_CREDENTIAL_ID/OS_APPLICATION_CREDENTIAL_SECRET",
            application_credential_id,
            application_credential_secret,
        )
    if APPLICATION_CREDENTIAL_ID.fullmatch(username):
        return SwiftAuth(
            "application_credential",
            "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD (OS_USERNAME is 32 hex: an application credential id and its secret)",
            username,
            password,
        )
    return SwiftAuth(
        "password",
        "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME/OS_USER_DOMAIN_NAME/OS_PROJECT_DOMAIN_NAME",
        username,
        password,
    )


class SwiftResource(ConfigurableResource):
    """An OpenStack Swift connection (python-swiftclient): Keystone v3 or v1 auth, timeouts and retries.

    Keystone v3 goes through one keystoneauth session per process and
    credentials: one token request, reused until it expires, however many
    objects, runs or sensor ticks use it.
    """

    auth_url: str = Field(description="Keystone v3 (`.../v3`) or v1 (`.../auth/v1.0`) endpoint")
    username: str = ""
    password: str = Field(default="", repr=False)
    project_name: str = ""
    user_domain_name: str = Field(default=GWTMSettings.default("os_user_domain_name"))
    project_domain_name: str = Field(default=GWTMSettings.default("os_project_domain_name"))
    application_credential_id: str = ""
    application_credential_secret: str = Field(default="", repr=False)
    region_name: str = ""
    storage_url: str = Field(
        default="", description="Object-storage URL (OS_STORAGE_URL) instead of the service catalog's"
    )
    timeout_s: float = 60.0
    retries: int = Field(default=3, description="attempts on connection errors and 5xx, backoff 1, 2, 4 s")

    def auth(self) -> SwiftAuth:
        return swift_auth(
            self.auth_url,
            self.username,
            self.password,
            self.application_credential_id,
            self.application_credential_secret,
        )

    def get_connection(self) -> Any:
        import swiftclient

        auth = self.auth()
        common: dict[str, Any] = {
            "retries": self.retries,
            "timeout": self.timeout_s,
            "starting_backoff": 1,
            "max_backoff": 16,
        }
        if auth.method == "v1":
            return swiftclient.Connection(
                authurl=self.auth_url, user=auth.user, key=auth.secret, auth_version="1", **common
            )
        options = {"region_name": self.region_name} if self.region_name else {}
        if self.storage_url:
            # swiftclient then sends every request there, whatever the token's catalog says.
            options["object_storage_url"] = self.storage_url.rstrip("/")
        return swiftclient.Connection(session=self._keystone_session(auth), os_options=options, **common)

    def _keystone_session(self, auth: SwiftAuth) -> Any:
        key = (
            self.auth_url, auth.method, auth.user, hashlib.sha256(auth.secret.encode()).hexdigest(),
            self.project_name, self.user_domain_name, self.project_domain_name, self.timeout_s,
        )  # fmt: skip
        return KEYSTONE_SESSIONS.get(key, lambda: self._new_keystone_session(auth))

    def _new_keystone_session(self, auth: SwiftAuth) -> Any:
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        if auth.method == "application_credential":
            plugin: Any = v3.ApplicationCredential(
                auth_url=self.auth_url, application_credential_id=auth.user, application_credential_secret=auth.secret
            )
        else:
            plugin = v3.Password(
                auth_url=self.auth_url,
                username=auth.user,
                password=auth.secret,
                project_name=self.project_name,
                user_domain_name=self.user_domain_name,
                project_domain_name=self.project_domain_name,
            )
        return session.Session(auth=plugin, timeout=self.timeout_s)


class SwiftProductStorage(ProductStorage):
    """``STORAGE_BUCKET_SOURCE=swift``: container ``OS_CONTAINER_NAME``, objects ``<dir>/<file>``."""

    container: str = Field(
        default=GWTMSettings.default("os_container_name"), description="Swift container (OS_CONTAINER_NAME)"
    )
    swift: SwiftResource

    def cloud_store(self) -> ObjectStore:
        from ..io.swift import SwiftObjectStore

        store = SwiftObjectStore(self.swift.get_connection(), self.container, self.swift.auth().variables)
        store.ensure_container()
        return store

    def location(self) -> str:
        return f"swift://{self.container}"
