"""The validated shape of a config: global settings and the keys every task shares."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..checksums import DEFAULT_ALGORITHM, check_algorithm
from ..durations import parse_duration
from ..promql import DEFAULT_SELECTOR, check_selector
from ..schedule import Cron
from ..stores import StoreSettings

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
NameList = Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class StoreRef:
    """Marks a task parameter that names stores under ``stores:``, so that `sexton validate`
    reports a misspelt store instead of the first run failing on it."""


StoreName = Annotated[str, StoreRef()]
# A checksum algorithm's name (`sha256`, `md5`, ...), refused with the list of known ones.
Algorithm = Annotated[str, AfterValidator(check_algorithm)]
StoreNames = Annotated[NameList, StoreRef()]
OptionalStoreName = Annotated[str | None, StoreRef()]


class Strict(BaseModel):
    """Unknown keys are errors, so a misspelt key is never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected e.g. Europe/London)") from None
    return name


class RetryPolicy(Strict):
    max: int = Field(0, ge=0)
    backoff: Duration = timedelta(seconds=30)
    factor: float = Field(2.0, ge=1.0)
    max_backoff: Duration = timedelta(hours=1)
    defer: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_number_is_the_count(cls, value: Any) -> Any:
        """``retries: 3`` is short for ``retries: {max: 3}``."""
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max": value}
        return value

    def delay(self, attempt: int) -> timedelta | None:
        """How long to wait before attempt ``attempt + 1``, or None when retries are spent.

        Quick retries back off exponentially; after ``max`` of them, ``defer`` (if set) keeps
        retrying at a long interval, like a drain's RETRY epoch.
        """
        if attempt <= self.max:
            delay = self.backoff * (self.factor ** (attempt - 1))
            return min(delay, self.max_backoff)
        return self.defer


class AlertPolicy(Strict):
    grace: Duration | None = None  # default: one period, at most a day (see monitor)
    after_failures: int = Field(1, ge=1)
    # A task that keeps succeeding with nothing to do (items = 0) this long is `idle`:
    # an indexer that indexes nothing is broken even though no run fails.
    idle_after: Duration | None = None


class FanOut(Strict):
    """``fan_out``: split each run into shards that any worker with the task's tags may claim."""

    workers: int = Field(4, ge=1)  # at most this many workers on one run's shards at once
    shard: int = Field(512, ge=1)  # per shard: copies, or for ``scan`` files (scan_shards)


Executor = Literal["local", "external", "manual", "heartbeat"]
NotifyEvent = Literal["down", "up", "corruption"]


class WebhookSettings(Strict):
    url: str
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a webhook URL starts with http:// or https://")
        return value


class EmailSettings(Strict):
    smtp: str = "127.0.0.1:25"  # host:port of the mail server
    sender: str = Field(alias="from")
    to: NameList
    username: str | None = None
    password: str | None = None
    starttls: bool = False


class NotifySettings(Strict):
    """Where status flips and corruption are announced (``notify:``, or per task)."""

    webhooks: Annotated[
        list[WebhookSettings],
        BeforeValidator(lambda v: [{"url": w} if isinstance(w, str) else w for w in v]),
    ] = []
    email: EmailSettings | None = None
    on: list[NotifyEvent] = ["down", "up", "corruption"]
    attempts: int = Field(5, ge=1)  # deliveries tried before a message is given up (and logged)
    backoff: Duration = timedelta(seconds=2)
    max_backoff: Duration = timedelta(minutes=5)


class TaskSettings(Strict):
    """The keys every task has, whatever its type (DESIGN §4)."""

    name: str
    type: str
    every: Duration | None = None
    cron: str | None = None
    timezone: str | None = None
    at_start: bool = False
    soft_timeout: Duration | None = None
    hard_timeout: Duration | None = None
    enabled: bool = True
    requires: NameList = []
    after: NameList = []
    exclusive_with: NameList = []
    on_conflict: Literal["wait", "skip"] = "wait"
    concurrency: int = Field(1, ge=1)
    retries: RetryPolicy = RetryPolicy()
    catch_up: Literal["latest", "all", "none"] = "latest"
    runs_on: NameList = []
    executor: Executor | None = None
    alert: AlertPolicy = AlertPolicy()
    env_file: NameList = []
    notify: NotifySettings | None = None  # replaces the global ``notify:`` for this task
    # A secret that stands for the task in ping URLs (/ping/KEY/start), so a cron line
    # needs no token; long enough that it cannot be guessed.
    ping_key: str | None = Field(None, min_length=16, pattern=r"^[A-Za-z0-9_.~-]+$")
    fan_out: FanOut | None = None  # only for task types that can split a run (Task.splits)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip() or "/" in value or any(ord(c) < 32 for c in value):
            raise ValueError("a task name must be non-empty, without '/' or control characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (why := Cron.check(value)):
            raise ValueError(why)
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() < 1:
            raise ValueError("every must be at least one second")
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> TaskSettings:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        return self


class ApiSettings(Strict):
    listen: str = "127.0.0.1:8080"
    # role -> token, or a list of tokens (``site``: one per other site sending here)
    tokens: dict[str, str | list[str]] = {}


class AlertSettings(Strict):
    """How `sexton alerts` writes its rules: ``selector`` (PromQL label matchers) scopes every
    expression to this install's scrape job, so two installs on one Prometheus never collide."""

    selector: str = DEFAULT_SELECTOR

    @field_validator("selector")
    @classmethod
    def _matchers(cls, value: str) -> str:
        return check_selector(value)


class SiteSettings(Strict):
    """Another Sexton site (``sites:``): where its API answers, the token to present there,
    and how patiently to call it (a site may be down for minutes; a run must not hang)."""

    url: str
    token: str = ""
    timeout: Duration = timedelta(seconds=60)
    attempts: int = Field(5, ge=1)
    backoff: Duration = timedelta(seconds=1)
    max_backoff: Duration = timedelta(seconds=30)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a site URL starts with http:// or https://")
        return value.rstrip("/")


class TransferSettings(Strict):
    """Where files sent here by other sites wait (``staging``) and end up (``store``)."""

    staging: OptionalStoreName = None  # receiving is refused without one
    store: OptionalStoreName = None  # default: the first configured store


class HistorySettings(Strict):
    keep: Duration = timedelta(days=93)


class WorkerSettings(Strict):
    lease: Duration = timedelta(seconds=30)  # a worker silent this long has died
    poll: Duration = timedelta(seconds=0.2)  # how often an idle worker looks for work
    concurrency: int = Field(2, ge=1)
    tags: NameList = []
    kill_grace: Duration = timedelta(seconds=5)  # SIGTERM, then SIGKILL after this


class SchedulerSettings(Strict):
    poll: Duration = timedelta(seconds=0.5)


class CopiesSettings(Strict):
    """``copies:``: how many verified copies each file needs, at how many sites (this one
    counts as one; another site's copy counts once it confirmed the checksum)."""

    min: int = Field(1, ge=1)
    sites: int = Field(1, ge=1)


class GroupSettings(Strict):
    """One entry under ``groups:``: the copies rule for files held on the group's stores."""

    copies: CopiesSettings = CopiesSettings()


class Settings(Strict):
    """The top level of ``sexton.yaml``; ``tasks`` and ``include`` are read separately."""

    database: str | None = None
    env_file: NameList = []
    timezone: str = "UTC"
    api: ApiSettings = ApiSettings()
    stores: dict[str, StoreSettings] = {}
    checksum: Algorithm = DEFAULT_ALGORITHM  # the algorithm new checksums are written in
    history: HistorySettings = HistorySettings()
    worker: WorkerSettings = WorkerSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    notify: NotifySettings = NotifySettings()
    site: str | None = None  # this site's name, as the other sites know it under `sites:`
    sites: dict[str, SiteSettings] = {}
    transfer: TransferSettings = TransferSettings()
    alerts: AlertSettings = AlertSettings()
    tasks: list[Any] = []
    include: NameList = []
    copies: CopiesSettings = CopiesSettings()
    groups: dict[str, GroupSettings] = {}  # named by `group:` on stores

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str | None:
        return check_timezone(value)
