"""The client one site uses to call another's transfer API, inside task runs only (never in
the scheduler loop): every call has a timeout, and retries with backoff while the other site
is unreachable or busy. A refusal (4xx) is an answer, never retried.

``confirm`` is how a destination tells the source which files it now holds verified (network
transfers, and SneakerNet imports when the sites can talk).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..checksums import CHUNK_SIZE, Checksum, MultiHasher
from ..config.errors import did_you_mean
from ..config.models import SiteSettings
from .messages import (
    CHECKSUM_HEADER,
    Confirmation,
    ConfirmReply,
    ConfirmRequest,
    Ids,
    ReconfirmReply,
    ReconfirmRequest,
    StageReply,
    StageRequest,
    StatusReply,
    UploadReply,
)

log = logging.getLogger(__name__)

API = "/api/v1/transfers"
# Answers that mean "try again later" rather than "no".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
Reply = TypeVar("Reply", bound=BaseModel)


class SiteError(Exception):
    """A call to another site did not get an answer it could use."""


class SiteUnreachable(SiteError):
    """No answer after every retry: the other site is down, or the network is."""


class SiteRefused(SiteError):
    """The other site answered no (bad token, bad request, conflict): retrying won't help."""

    def __init__(self, site: str, status: int, detail: str) -> None:
        super().__init__(f"site {site} refused ({status}): {detail}")
        self.status = status
        self.detail = detail


class SourceDamaged(SiteError):
    """The bytes read from our own store did not hash to the catalog's checksum."""


class SiteClient:
    """Calls to one configured site. ``should_stop`` ends the retry waits of a stopping run."""

    def __init__(
        self,
        name: str,
        settings: SiteSettings,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self._should_stop = should_stop
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._http = httpx.Client(
            base_url=settings.url + API,
            headers=headers,
            timeout=settings.timeout.total_seconds(),
            follow_redirects=False,
        )

    @classmethod
    def for_site(
        cls,
        sites: Mapping[str, SiteSettings],
        name: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> SiteClient:
        if name not in sites:
            raise SiteError(
                f"no site named {name!r} under sites: in the config{did_you_mean(name, sites)}"
            )
        return cls(name, sites[name], should_stop)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SiteClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the calls -------------------------------------------------------------------------

    def stage(self, request: StageRequest) -> StageReply:
        """Ask the destination to take a batch; it answers per file."""
        return self._post("/stage", request, StageReply)

    def upload(
        self, incoming_id: int, opener: Callable[[], BinaryIO], size: int, checksum: str
    ) -> UploadReply:
        """Stream one file to the destination, hashing it on the way out; the destination
        hashes it on the way in and keeps it only if it matches ``checksum``.

        Raises ``SourceDamaged`` when our own bytes do not match ``checksum``: the file is
        not sent again until our copy is checked.
        """
        expected = Checksum.parse(checksum)
        hashers: list[MultiHasher] = []

        def body() -> Iterator[bytes]:
            hasher = MultiHasher([expected.algo])
            hashers.append(hasher)
            with opener() as f:
                while chunk := f.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    yield chunk

        headers = {CHECKSUM_HEADER: str(expected), "Content-Length": str(size)}
        response = self._call("PUT", f"/incoming/{incoming_id}/data", content=body, headers=headers)
        reply = _parsed(self.name, response, UploadReply)
        # Only a file the destination read to its end ("staged") tells us what we sent; one it
        # already held ("completed") may have been answered before our body was read.
        sent = hashers[-1] if hashers and reply.state == "staged" else None
        if sent is not None and (sent.size != size or sent.checksums()[expected.algo] != expected):
            raise SourceDamaged(f"our copy does not match {expected} any more")
        return reply

    def placed(self, source: str, incoming_ids: Sequence[int]) -> None:
        """Tell the destination the bytes are in the shared staging store (``transport: store``)."""
        self._tell("/placed", Ids(source=source, ids=list(incoming_ids)))

    def status(self, source: str, ids: Sequence[int]) -> StatusReply:
        """How the destination sees our transfers ``ids``."""
        return self._post("/status", Ids(source=source, ids=list(ids)), StatusReply)

    def cancel(self, source: str, ids: Sequence[int], reason: str) -> None:
        """Our transfers ``ids`` are given up: the destination drops what it staged of them."""
        self._tell("/cancel", Ids(source=source, ids=list(ids), reason=reason[:2000]))

    def confirm(self, site: str, files: Sequence[Confirmation]) -> ConfirmReply:
        """Tell the source (this client's site) how files sent to ``site`` ended: it records a
        confirmed remote instance for each completed one whose checksum it agrees with."""
        return self._post("/confirm", ConfirmRequest(site=site, files=list(files)), ConfirmReply)

    def reconfirm(self, source: str, names: Sequence[str]) -> ReconfirmReply:
        """Ask the destination to hash its copies of ``names`` again, now."""
        request = ReconfirmRequest(source=source, names=list(names))
        return self._post("/reconfirm", request, ReconfirmReply)

    @contextmanager
    def fetch(self, name: str) -> Iterator[BinaryIO]:
        """Stream the other site's verified copy of ``name`` (to repair ours from it). Not
        retried: a repair that cannot fetch tries the next source, or the next run does.
        The bytes are whatever arrives: the caller hashes them against the file's checksum."""
        try:
            with self._http.stream("GET", "/files/data", params={"name": name}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise SiteRefused(self.name, response.status_code, _detail(response))
                yield io.BufferedReader(_ResponseBody(response.iter_bytes()), CHUNK_SIZE)
        except httpx.HTTPError as exc:
            raise SiteUnreachable(f"site {self.name} at {self.settings.url}: {exc}") from None

    # -- plumbing --------------------------------------------------------------------------

    def _post(self, path: str, body: BaseModel, reply: type[Reply]) -> Reply:
        response = self._call("POST", path, json=body.model_dump(mode="json"))
        return _parsed(self.name, response, reply)

    def _tell(self, path: str, body: BaseModel) -> None:
        """A call whose answer is only that it was done."""
        self._call("POST", path, json=body.model_dump(mode="json"))

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: Callable[[], Iterator[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call, retried with exponential backoff while the site is unreachable or busy."""
        settings = self.settings
        delay = settings.backoff.total_seconds()
        for attempt in range(1, settings.attempts + 1):
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    content=content() if content is not None else None,
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                    raise SiteRefused(self.name, response.status_code, _detail(response))
                problem = f"HTTP {response.status_code}: {_detail(response)}"
            if attempt == settings.attempts or self._should_stop():
                break
            log.warning(
                "site %s: %s (attempt %d, again in %.1fs)", self.name, problem, attempt, delay
            )
            self._sleep(delay)
            delay = min(delay * 2, settings.max_backoff.total_seconds())
        raise SiteUnreachable(f"site {self.name} at {settings.url}: {problem}")


class _ResponseBody(io.RawIOBase):
    """A streamed response body as a file, for the store's write path to read from."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.text[:500] or response.reason_phrase


def _parsed(site: str, response: httpx.Response, reply: type[Reply]) -> Reply:
    try:
        return reply.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise SiteError(f"site {site} gave an answer this Sexton cannot read: {exc}") from None
