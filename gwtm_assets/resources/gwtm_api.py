"""The GWTM API resource: the one place the listeners talk to the web service."""

import json
import logging
from collections.abc import Callable
from typing import Any

import requests
from dagster import ConfigurableResource, Failure
from pydantic import Field, PrivateAttr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..timestamps import utc_naive

logger = logging.getLogger(__name__)


class GWTMApiError(Failure):
    """The API refused a request (4xx): the step fails once, not retried, naming endpoint, status and the
    server's message (never the token)."""

    retryable = False

    def __init__(self, endpoint: str, status: int | None, detail: str):
        self.endpoint = endpoint
        self.status = status
        self.detail = detail
        super().__init__(
            description=f"GWTM API {endpoint}: {'HTTP ' + str(status) if status else 'no response'}: {detail}",
            metadata={
                "endpoint": endpoint,
                "http_status": status if status is not None else -1,
                "retryable": self.retryable,
            },
            allow_retries=self.retryable,
        )


class GWTMApiTransientError(GWTMApiError):
    """A failure worth retrying: connection error, timeout or 5xx. For a POST, an ambiguous one."""

    retryable = True


def _same_instant(a: Any, b: Any) -> bool:
    x, y = utc_naive(a), utc_naive(b)
    return x is not None and y is not None and abs((x - y).total_seconds()) < 1e-3


def _as_list(answer: Any) -> list[Any]:
    if isinstance(answer, str):
        answer = json.loads(answer)
    return list(answer or [])


def galaxy_list_ids_matching(entries: list[dict[str, Any]], galaxies: list[dict[str, Any]]) -> set[int]:
    """Ids of the lists among ``event_galaxies`` entries that hold exactly ``galaxies`` (by name and rank)."""
    wanted = sorted((g["name"], g["rank"]) for g in galaxies)
    by_list: dict[int, list[tuple[str, int]]] = {}
    for entry in entries:
        if "listid" in entry:
            by_list.setdefault(entry["listid"], []).append((entry["name"], entry["rank"]))
    return {listid for listid, held in by_list.items() if sorted(held) == wanted}


class GWTMApiResource(ConfigurableResource):
    """Client of the GWTM API (README, "The asset graph" and "The API double").

    Requests carry the ``api_token`` header. Queries and deletions are retried
    with exponential backoff after connection errors, timeouts and 5xx answers;
    4xx answers are not retried. A POST is not idempotent on the server: after
    an ambiguous failure (the server may have committed it) the API is asked
    whether the record is there before it is posted again. With ``api_base``
    empty or ``enabled`` false, records are logged instead of posted and
    queries answer empty.
    """

    api_base: str = ""
    api_token: str = Field(default="", repr=False)
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

    def _send(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """One request; 4xx raises GWTMApiError, anything that may succeed later GWTMApiTransientError."""
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["api_token"] = self.api_token
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

    def _retrying(self, endpoint: str) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(GWTMApiTransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=0.5, max=self.backoff_max_s),
            reraise=True,
            before_sleep=lambda state: logger.warning(
                "GWTM API %s failed (attempt %d), retrying: %s",
                endpoint,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
        )

    def _request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """An idempotent request (GET, DELETE), retried after transient failures."""
        return self._retrying(endpoint)(self._send, method, endpoint, **kwargs)

    def _post(self, endpoint: str, body: dict[str, Any], committed: Callable[[], Any]) -> Any:
        """POST ``body``; before each re-post, ``committed()`` says whether an earlier attempt was stored.

        ``committed`` returns what the API holds for this body, or None.
        """
        for attempt in self._retrying(endpoint):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    held = committed()
                    if held is not None:
                        logger.warning("GWTM API %s: the earlier attempt was stored; not posting again", endpoint)
                        return held
                return self._send("POST", endpoint, json=body)
        raise AssertionError("unreachable: tenacity reraises")

    def query_alerts(self, graceid: str, alert_type: str | None = None) -> list[dict[str, Any]]:
        """Alert records the API holds for ``graceid`` (and ``alert_type``)."""
        if not self.posts_enabled:
            return []
        params = {"graceid": graceid} | ({"alert_type": alert_type} if alert_type else {})
        return _as_list(self._request("GET", "query_alerts", params=params))

    def find_alert(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The stored copy of ``record`` (same type and ``datecreated``), if the API holds it."""
        for held in self.query_alerts(record["graceid"], record["alert_type"]):
            if _same_instant(held.get("datecreated"), record.get("datecreated")):
                return held
        return None

    def post_alert(self, record: dict[str, Any]) -> dict[str, Any]:
        """Post an alert record exactly once; returns the stored record (with ``id``).

        ``record["datecreated"]`` identifies it: after an ambiguous failure, a
        held record of the same type with that ``datecreated`` is this one.
        """
        if not self.posts_enabled:
            logger.info("GWTM API disabled; alert record not posted: %s", json.dumps(record, default=str))
            return dict(record, id=None)
        return self._post("post_alert", record, lambda: self.find_alert(record))

    def del_test_alerts(self) -> Any:
        """Ask the API to remove mock (``MS...``) alerts not dated today +-1 day, with their files."""
        if self.posts_enabled:
            return self._request("POST", "del_test_alerts")
        return None

    def post_icecube_notice(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post an IceCube notice (``{"notice_data", "events_data"}``); idempotent on ``ref_id`` server-side."""
        if not self.posts_enabled:
            logger.info("GWTM API disabled; IceCube notice not posted: %s", json.dumps(body, default=str))
            return {"icecube_notice": None}
        return self._request("POST", "post_icecube_notice", json=body)

    def event_galaxies(self, graceid: str, groupname: str) -> list[dict[str, Any]]:
        """Entries of the galaxy lists ``groupname`` holds for ``graceid``."""
        if not self.posts_enabled:
            return []
        return _as_list(self._request("GET", "event_galaxies", params={"graceid": graceid, "groupname": groupname}))

    def replace_event_galaxies(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post a galaxy list for ``(graceid, groupname)`` once, first deleting the lists the API holds for that pair.

        After an ambiguous failure of the POST, a list holding exactly these
        galaxies that was not there before is taken as this one.
        """
        if not self.posts_enabled:
            logger.info(
                "GWTM API disabled; galaxy list of %s not posted (%d galaxies)", body["graceid"], len(body["galaxies"])
            )
            return {"message": "not posted", "errors": [], "warnings": []}
        graceid, groupname = body["graceid"], body["groupname"]
        earlier = {entry["listid"] for entry in self.event_galaxies(graceid, groupname) if "listid" in entry}
        for listid in sorted(earlier):
            self._request("DELETE", "remove_event_galaxies", params={"listid": listid})

        def committed() -> dict[str, Any] | None:
            stored = galaxy_list_ids_matching(self.event_galaxies(graceid, groupname), body["galaxies"]) - earlier
            return {"message": f"already stored as list {min(stored)}", "errors": []} if stored else None

        answer = self._post("event_galaxies", body, committed)
        if isinstance(answer, dict) and answer.get("errors"):  # the API may answer 200 with a list of errors
            raise GWTMApiError("event_galaxies", 200, json.dumps(answer["errors"])[:1000])
        return answer
