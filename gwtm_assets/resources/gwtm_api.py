"""The GWTM API resource: the one place the listeners talk to the web service."""

import json
import logging
from typing import Any

import requests
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

logger = logging.getLogger(__name__)


class GWTMApiError(RuntimeError):
    """The API refused a request (4xx) or kept failing; names endpoint and status, never the token."""

    def __init__(self, endpoint: str, status: int | None, detail: str):
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"GWTM API {endpoint}: {'HTTP ' + str(status) if status else 'no response'}: {detail}")


class GWTMApiTransientError(GWTMApiError):
    """A failure worth retrying: connection error, timeout or 5xx."""


class GWTMApiResource(ConfigurableResource):
    """Client of the GWTM API (docs/gwtm-api.md).

    Requests carry the ``api_token`` header. Connection errors, timeouts and
    5xx answers are retried with exponential backoff; 4xx answers are not.
    With ``api_base`` empty or ``enabled`` false, records are logged instead
    of posted and queries answer empty.
    """

    api_base: str = ""
    api_token: str = Field("", repr=False)
    enabled: bool = True
    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_max_s: float = 30.0

    _session: requests.Session | None = PrivateAttr(default=None)

    @property
    def posts_enabled(self) -> bool:
        return bool(self.api_base) and self.enabled

    def _url(self, endpoint: str) -> str:
        return self.api_base.rstrip("/") + "/" + endpoint

    def _request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["api_token"] = self.api_token

        @retry(
            retry=retry_if_exception_type(GWTMApiTransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=0.5, max=self.backoff_max_s),
            reraise=True,
            before_sleep=lambda state: logger.warning(
                "GWTM API %s failed (attempt %d), retrying: %s",
                endpoint,
                state.attempt_number,
                state.outcome.exception(),
            ),
        )
        def attempt() -> Any:
            try:
                response = self._session.request(method, self._url(endpoint), timeout=self.timeout_s, **kwargs)
            except requests.RequestException as exc:
                raise GWTMApiTransientError(endpoint, None, type(exc).__name__) from exc
            if response.status_code >= 500:
                raise GWTMApiTransientError(endpoint, response.status_code, response.text[:300])
            if response.status_code >= 400:
                raise GWTMApiError(endpoint, response.status_code, response.text[:1000])
            try:
                return response.json()
            except ValueError:
                return response.text

        return attempt()

    def query_alerts(self, graceid: str, alert_type: str | None = None) -> list[dict[str, Any]]:
        """Alert records the API holds for ``graceid`` (and ``alert_type``), newest first."""
        if not self.posts_enabled:
            return []
        params = {"graceid": graceid} | ({"alert_type": alert_type} if alert_type else {})
        result = self._request("GET", "query_alerts", params=params)
        if isinstance(result, str):
            result = json.loads(result)
        return list(result)

    def post_alert(self, record: dict[str, Any]) -> dict[str, Any]:
        """Post an alert record; returns the stored record (with ``id``)."""
        if not self.posts_enabled:
            logger.info("GWTM API disabled; alert record not posted: %s", json.dumps(record, default=str))
            return dict(record, id=None)
        return self._request("POST", "post_alert", json=record)

    def del_test_alerts(self) -> None:
        """Ask the API to remove old mock (``MS...``) alerts."""
        if self.posts_enabled:
            self._request("POST", "del_test_alerts")

    def post_icecube_notice(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post an IceCube notice (``{"notice_data", "events_data"}``); idempotent on ``ref_id`` server-side."""
        if not self.posts_enabled:
            logger.info("GWTM API disabled; IceCube notice not posted: %s", json.dumps(body, default=str))
            return {"icecube_notice": None}
        return self._request("POST", "post_icecube_notice", json=body)

    def replace_event_galaxies(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post a galaxy list for ``(graceid, groupname)``, first deleting the lists the API holds for that pair."""
        if not self.posts_enabled:
            logger.info(
                "GWTM API disabled; galaxy list of %s not posted (%d galaxies)", body["graceid"], len(body["galaxies"])
            )
            return {"message": "not posted", "errors": [], "warnings": []}
        held = self._request(
            "GET", "event_galaxies", params={"graceid": body["graceid"], "groupname": body["groupname"]}
        )
        if isinstance(held, str):
            held = json.loads(held)
        for listid in sorted({entry["listid"] for entry in held or [] if "listid" in entry}):
            self._request("DELETE", "remove_event_galaxies", params={"listid": listid})
        answer = self._request("POST", "event_galaxies", json=body)
        if isinstance(answer, dict) and answer.get("errors"):  # the API answers 200 with a list of errors
            raise GWTMApiError("event_galaxies", 200, json.dumps(answer["errors"])[:1000])
        return answer
