"""``http_check``: does the service answer, with the right status and content, in time —
and is its TLS certificate far enough from expiry? Each URL's status and latency go on the
run; any failure fails it, so the usual alerts fire."""

from __future__ import annotations

import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from ..config.models import Duration
from .base import RunContext, Task, TaskFailed, TaskParams

MAX_BODY = 1024 * 1024  # bytes of a page searched for expect_text / expect_regex
WAIT_STEP = 0.05  # seconds between stop checks while waiting to retry

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class Probe:
    """One URL's outcome: what it answered and how fast, or why it is not healthy."""

    url: str
    status: int | None
    ms: float | None
    problem: str | None
    cert_days: float | None = None  # days until the certificate expires (https only)


class HttpCheckTask(Task):
    type = "http_check"

    class Params(TaskParams):
        url: str | None = None
        urls: list[str] = []
        method: Method = "GET"
        headers: dict[str, str] = {}
        expect_status: list[int] = [200]
        expect_text: str | None = None  # a substring the body must contain
        expect_regex: str | None = None  # a pattern the body must match somewhere
        timeout: Duration = timedelta(seconds=10)
        # Tries per URL within the run (`retries` is the common key that re-runs the task).
        attempts: int = Field(1, ge=1)
        retry_delay: Duration = timedelta(seconds=1)
        follow_redirects: bool = True
        cert_days: int | None = Field(None, ge=1)  # fail when the certificate expires sooner
        ca_file: str | None = None  # CA bundle for services with a private CA

        @field_validator("expect_status", mode="before")
        @classmethod
        def _statuses(cls, value: Any) -> Any:
            return [value] if isinstance(value, int) else value

        @field_validator("urls")
        @classmethod
        def _http_urls(cls, value: list[str]) -> list[str]:
            return [_http_url(u) for u in value]

        @field_validator("url")
        @classmethod
        def _url(cls, value: str | None) -> str | None:
            return None if value is None else _http_url(value)

        @field_validator("expect_regex")
        @classmethod
        def _pattern(cls, value: str | None) -> str | None:
            if value is not None:
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"bad regular expression {value!r}: {exc}") from None
            return value

        @model_validator(mode="after")
        def _some_url(self) -> HttpCheckTask.Params:
            if (self.url is None) == (not self.urls):
                raise ValueError("give either url or urls")
            return self

        def targets(self) -> list[str]:
            return [self.url] if self.url is not None else list(self.urls)

    def run(self, ctx: RunContext) -> None:
        params: HttpCheckTask.Params = ctx.params
        verify: ssl.SSLContext | bool = True
        if params.ca_file is not None:
            verify = ssl.create_default_context(cafile=params.ca_file)
        failures = []
        with httpx.Client(
            timeout=params.timeout.total_seconds(),
            verify=verify,
            follow_redirects=params.follow_redirects,
        ) as client:
            for url in params.targets():
                result, attempts = _with_retries(client, params, url, ctx)
                ctx.event(
                    "http",
                    url=_shown(url),
                    status=result.status,
                    ms=None if result.ms is None else round(result.ms, 1),
                    attempts=attempts,
                    ok=result.problem is None,
                )
                ctx.progress(items=1)
                if result.problem is not None:
                    failures.append(f"{_shown(url)}: {result.problem}")
        if failures:
            raise TaskFailed("; ".join(failures))


def _http_url(value: str) -> str:
    if not re.match(r"https?://[^/]", value):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


def _shown(url: str) -> str:
    """The URL without a password in it: run events are not the place for secrets."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(password="***")) if parsed.password else url


def _with_retries(
    client: httpx.Client, params: HttpCheckTask.Params, url: str, ctx: RunContext
) -> tuple[Probe, int]:
    attempts = 0
    while True:
        attempts += 1
        result = probe(client, params, url, ctx.now())
        if result.problem is None or attempts >= params.attempts or ctx.should_stop():
            return result, attempts
        waited_until = time.monotonic() + params.retry_delay.total_seconds()
        while time.monotonic() < waited_until and not ctx.should_stop():
            time.sleep(min(WAIT_STEP, max(0.0, waited_until - time.monotonic())))


def probe(client: httpx.Client, params: HttpCheckTask.Params, url: str, now: datetime) -> Probe:
    """Ask once; the problem is None when every expectation holds."""
    began = time.monotonic()
    try:
        with client.stream(params.method, url, headers=params.headers) as response:
            # Before the body: a server that closes after answering takes the TLS state along.
            cert_days = _cert_days_left(response, now)
            body = _head_of_body(response)
    except httpx.TimeoutException:
        return Probe(url, None, None, f"no answer within {params.timeout.total_seconds():g}s")
    except httpx.HTTPError as exc:
        return Probe(url, None, None, f"{type(exc).__name__}: {exc}")
    ms = (time.monotonic() - began) * 1000
    status = response.status_code
    problem = None
    if status not in params.expect_status:
        expected = " or ".join(map(str, params.expect_status))
        problem = f"status {status}, expected {expected}"
    elif params.expect_text is not None and params.expect_text not in body:
        problem = f"the page does not contain {params.expect_text!r}"
    elif params.expect_regex is not None and not re.search(params.expect_regex, body):
        problem = f"the page does not match {params.expect_regex!r}"
    elif params.cert_days is not None and cert_days is not None and cert_days < params.cert_days:
        problem = f"TLS certificate expires in {cert_days:.1f} days (cert_days: {params.cert_days})"
    return Probe(url, status, ms, problem, cert_days)


def _head_of_body(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY].decode(response.encoding or "utf-8", "replace")


def _cert_days_left(response: httpx.Response, now: datetime) -> float | None:
    """Days until the server's certificate expires; None for plain HTTP."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    return (expires - now).total_seconds() / 86400
