"""Product storage in OpenStack Swift through a resource of ours on python-swiftclient."""

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from ..io.object_store import ObjectStore
from .storage import ProductStorage


class SwiftResource(ConfigurableResource):
    """An OpenStack Swift connection (python-swiftclient): Keystone v3 or v1 auth, timeouts and retries."""

    auth_url: str = Field(description="Keystone v3 (`.../v3`) or v1 (`.../auth/v1.0`) endpoint")
    username: str = ""
    password: str = Field("", repr=False)
    project_name: str = ""
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    application_credential_id: str = ""
    application_credential_secret: str = Field("", repr=False)
    region_name: str = ""
    timeout_s: float = 60.0
    retries: int = Field(3, description="attempts on connection errors and 5xx, backoff 1, 2, 4 s")

    @property
    def auth_version(self) -> str:
        return "1" if "/auth/v1" in self.auth_url else "3"

    def get_connection(self) -> Any:
        import swiftclient

        common = {
            "authurl": self.auth_url,
            "retries": self.retries,
            "timeout": self.timeout_s,
            "starting_backoff": 1,
            "max_backoff": 16,
        }
        if self.auth_version == "1":
            return swiftclient.Connection(user=self.username, key=self.password, auth_version="1", **common)
        options: dict[str, str] = {"region_name": self.region_name} if self.region_name else {}
        if self.application_credential_id:
            options |= {
                "auth_type": "v3applicationcredential",
                "application_credential_id": self.application_credential_id,
                "application_credential_secret": self.application_credential_secret,
            }
            return swiftclient.Connection(auth_version="3", os_options=options, **common)
        options |= {
            "project_name": self.project_name,
            "user_domain_name": self.user_domain_name,
            "project_domain_name": self.project_domain_name,
        }
        return swiftclient.Connection(
            user=self.username, key=self.password, auth_version="3", os_options=options, **common
        )


class SwiftProductStorage(ProductStorage):
    """``STORAGE_BUCKET_SOURCE=swift``: container ``OS_CONTAINER_NAME``, objects ``<dir>/<file>``."""

    container: str = Field("gwtreasuremap", description="Swift container (OS_CONTAINER_NAME)")
    swift: SwiftResource

    def cloud_store(self) -> ObjectStore:
        from ..io.swift import SwiftObjectStore

        store = SwiftObjectStore(self.swift.get_connection(), self.container)
        store.ensure_container()
        return store

    def location(self) -> str:
        return f"swift://{self.container}"
