"""Building the one validated ``Config`` object from a file and everything it includes."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fsspec.core import split_protocol
from pydantic import BaseModel, ValidationError

from ..schedule import Cron, Every, Schedule
from .copies import copies_problems
from .envfile import EnvFileError, read_env_file
from .errors import ConfigError, Problem, did_you_mean
from .librarian import is_librarian_format, librarian_tasks
from .models import Settings, StoreRef, TaskSettings
from .source import Document, Path_, expand_text, expand_variables, read_document

DEFAULT_DATABASE = "sqlite:///sexton.db"  # beside the config file
COMMON_KEYS = set(TaskSettings.model_fields)


class TaskType(Protocol):
    """What the loader needs of a task type: its parameter model and default executor."""

    @property
    def Params(self) -> type[BaseModel]: ...  # noqa: N802 - the task classes' attribute name

    @property
    def executor(self) -> str: ...


# Given a task type's name, the type, or None when no such type is installed.
TypeResolver = Callable[[str], TaskType | None]


@dataclass(frozen=True)
class TaskSpec:
    """One configured task: its common settings, its type's parameters and its environment."""

    settings: TaskSettings
    params: BaseModel
    env: Mapping[str, str]
    default_timezone: str
    default_executor: str
    origin: str

    @property
    def executor(self) -> str:
        return self.settings.executor or self.default_executor

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def type(self) -> str:
        return self.settings.type

    @property
    def schedule(self) -> Schedule | None:
        if self.settings.every is not None:
            return Every(self.settings.every)
        if self.settings.cron is not None:
            zone = ZoneInfo(self.settings.timezone or self.default_timezone)
            return Cron(self.settings.cron, zone)
        return None


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    database_url: str
    tasks: dict[str, TaskSpec]

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``; ``KeyError`` with a suggestion otherwise."""
        try:
            return self.tasks[name]
        except KeyError:
            raise KeyError(f"no task named {name!r}{did_you_mean(name, self.tasks)}") from None


@dataclass
class _RawTask:
    settings: dict[str, Any]
    document: Document
    path: Path_


def load_config(
    path: Path,
    type_of: TypeResolver,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, expand, include and validate; raise ``ConfigError`` listing every problem."""
    environ = os.environ if environ is None else environ
    path = path.resolve()
    problems: list[Problem] = []
    top = read_document(path)
    if is_librarian_format(top.value):
        settings_doc: dict[str, Any] = {}
        env: dict[str, str] = dict(environ)
        problems += expand_variables(top, env)
        raw_tasks = [_RawTask(s, top, p) for s, p in librarian_tasks(top)]
    else:
        if not isinstance(top.value, dict):
            raise ConfigError([Problem(top.file, 1, "", "expected a mapping of settings")])
        env = _global_env(top, path.parent, environ, problems)
        problems += expand_variables(top, env)
        settings_doc = top.value
        raw_tasks = _tasks_of(top, ())
        for include, line_path in _includes(top):
            raw_tasks += _read_include(path.parent / include, top, line_path, env, problems, {path})
    settings = _validate_settings(top, settings_doc, problems)
    sources: dict[str, _RawTask] = {}
    specs = _validate_tasks(raw_tasks, settings, path.parent, env, type_of, problems, sources)
    _check_references(specs, sources, raw_tasks, problems)
    if settings is not None:
        given = top.value.get("transfer") if isinstance(top.value, dict) else None
        problems += _unknown_stores(settings.transfer, given, top, ("transfer",), settings)
        problems += copies_problems(settings, top)
        for spec in specs.values():
            raw = sources[spec.name]
            problems += _unknown_stores(spec.params, raw.settings, raw.document, raw.path, settings)
            problems += _read_only_targets(spec.params, raw.document, raw.path, settings)
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    settings = _local_stores_beside(settings, path.parent)
    return Config(path, settings, _database_url(settings, path.parent, environ), specs)


def _global_env(
    doc: Document, base: Path, environ: Mapping[str, str], problems: list[Problem]
) -> dict[str, str]:
    """The global ``env_file`` values overlaid by the real environment, which wins."""
    files = doc.value.get("env_file") or []
    values: dict[str, str] = {}
    for index, name in enumerate(_names(files)):
        try:
            values.update(read_env_file(base / expand_text(str(name), environ)))
        except EnvFileError as exc:
            problems.append(doc.problem(("env_file", index), str(exc)))
    return {**values, **environ}


def _tasks_of(doc: Document, prefix: Path_) -> list[_RawTask]:
    tasks = doc.value.get("tasks") if isinstance(doc.value, dict) else None
    if not isinstance(tasks, list):
        return []
    return [_RawTask(t, doc, (*prefix, "tasks", i)) for i, t in enumerate(tasks)]


def _names(value: Any) -> list[Any]:
    """A name or a list of names; anything else is left for validation to report."""
    return [value] if isinstance(value, str) else value if isinstance(value, list) else []


def _includes(doc: Document) -> list[tuple[str, Path_]]:
    include = doc.value.get("include") or []
    return [(str(name), ("include", i)) for i, name in enumerate(_names(include))]


def _read_include(
    path: Path,
    parent: Document,
    where: Path_,
    env: Mapping[str, str],
    problems: list[Problem],
    seen: set[Path],
) -> list[_RawTask]:
    """Tasks of an included file (Sexton or librarian format), relative includes followed."""
    path = path.resolve()
    if path in seen:
        problems.append(parent.problem(where, f"{path} is included in a loop"))
        return []
    if not _is_file(path):
        problems.append(parent.problem(where, f"cannot read included file {path}"))
        return []
    try:
        doc = read_document(path)
    except ConfigError as exc:
        problems += exc.problems
        return []
    problems += expand_variables(doc, env)
    if is_librarian_format(doc.value):
        return [_RawTask(s, doc, p) for s, p in librarian_tasks(doc)]
    if not isinstance(doc.value, dict) or set(doc.value) - {"tasks", "include"}:
        extra = sorted(set(doc.value) - {"tasks", "include"}) if isinstance(doc.value, dict) else []
        problems.append(
            Problem(doc.file, 1, "", f"an included file holds only tasks and include, not {extra}")
        )
        return []
    for key, value in doc.value.items():
        if value is not None and not isinstance(value, list | str if key == "include" else list):
            expected = "a file name or a list of them" if key == "include" else "a list of tasks"
            problems.append(doc.problem((key,), f"expected {expected}"))
    tasks = _tasks_of(doc, ())
    for include, line_path in _includes(doc):
        tasks += _read_include(path.parent / include, doc, line_path, env, problems, seen | {path})
    return tasks


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name the file system refuses outright, e.g. one too long
        return False


def _pydantic_problems(doc: Document, prefix: Path_, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc: Path_ = (*prefix, *item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key {item['loc'][-1]!r}"
        problems.append(doc.problem(loc, message))
    return problems


def _validate_settings(
    doc: Document, value: dict[str, Any], problems: list[Problem]
) -> Settings | None:
    unknown = [k for k in value if k not in Settings.model_fields]
    for key in unknown:
        hint = did_you_mean(key, Settings.model_fields)
        problems.append(doc.problem((key,), f"unknown setting {key!r}{hint}"))
    try:
        return Settings.model_validate({k: v for k, v in value.items() if k not in unknown})
    except ValidationError as exc:
        problems += _pydantic_problems(doc, (), exc)
        return None


def _validate_tasks(
    raw_tasks: list[_RawTask],
    settings: Settings | None,
    base: Path,
    env: Mapping[str, str],
    type_of: TypeResolver,
    problems: list[Problem],
    sources: dict[str, _RawTask],
) -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    default_zone = settings.timezone if settings else "UTC"
    for raw in raw_tasks:
        doc, where = raw.document, raw.path
        if not isinstance(raw.settings, dict):
            problems.append(doc.problem(where, "expected a mapping of task settings"))
            continue
        task_type = raw.settings.get("type")
        kind = type_of(task_type) if isinstance(task_type, str) else None
        if kind is None:
            known = _known_types(type_of)
            hint = did_you_mean(str(task_type), known) if task_type else ""
            message = (
                f"unknown task type {task_type!r}{hint}"
                if task_type
                else "missing key 'type' (the kind of task)"
            )
            problems.append(doc.problem((*where, "type"), message))
            continue
        model = kind.Params
        param_keys = set(model.model_fields)
        common = {k: v for k, v in raw.settings.items() if k in COMMON_KEYS}
        params = {k: v for k, v in raw.settings.items() if k not in COMMON_KEYS}
        for key in [k for k in params if k not in param_keys]:
            hint = did_you_mean(key, COMMON_KEYS | param_keys)
            problems.append(
                doc.problem((*where, key), f"unknown key {key!r} for a {task_type} task{hint}")
            )
            del params[key]
        try:
            task_settings = TaskSettings.model_validate(common)
            task_params = model.model_validate(params)
        except ValidationError as exc:
            problems += _pydantic_problems(doc, where, exc)
            continue
        if task_settings.fan_out is not None and not getattr(kind, "splits", False):
            problems.append(
                doc.problem(
                    (*where, "fan_out"),
                    f"a {task_type} task cannot be split into shards: fan_out is for "
                    + ", ".join(_splitting_types(type_of)),
                )
            )
            continue
        if task_settings.name in specs:
            problems.append(
                doc.problem((*where, "name"), f"duplicate task name {task_settings.name!r}")
            )
            continue
        task_env = dict(env)
        for index, name in enumerate(task_settings.env_file):
            try:
                task_env.update(read_env_file(base / name))
            except EnvFileError as exc:
                problems.append(doc.problem((*where, "env_file", index), str(exc)))
        origin = f"{doc.file}:{doc.line(where) or 1}"
        sources[task_settings.name] = raw
        specs[task_settings.name] = TaskSpec(
            task_settings, task_params, task_env, default_zone, kind.executor, origin
        )
    return specs


def _unknown_stores(
    params: BaseModel, given: Any, doc: Document, where: Path_, settings: Settings
) -> list[Problem]:
    """Parameters marked ``StoreRef`` (in nested settings too) must name configured stores."""
    problems = []
    for key, field in type(params).model_fields.items():
        value = getattr(params, key)
        written = given.get(key) if isinstance(given, dict) else None
        if isinstance(value, BaseModel):
            problems += _unknown_stores(value, written, doc, (*where, key), settings)
        if value is None or not any(isinstance(m, StoreRef) for m in field.metadata):
            continue
        for index, name in enumerate([value] if isinstance(value, str) else value):
            if name not in settings.stores:
                path = (*where, key, index) if isinstance(written, list) else (*where, key)
                hint = did_you_mean(name, settings.stores) or (
                    "" if settings.stores else " (there is no `stores:` section)"
                )
                problems.append(doc.problem(path, f"no store named {name!r}{hint}"))
    return problems


def _read_only_targets(
    params: BaseModel, doc: Document, where: Path_, settings: Settings
) -> list[Problem]:
    """Stores a task writes into (its params' ``written_stores()``, by key) must not be
    ``read_only``: reading from one is fine, so only targets are refused."""
    written_stores = getattr(params, "written_stores", None)
    if not callable(written_stores):
        return []
    problems = []
    for key, names in written_stores().items():
        for name in names:
            if name in settings.stores and settings.stores[name].read_only:
                message = f"store {name!r} is read_only, but {key!r} makes this task write into it"
                problems.append(doc.problem((*where, key), message))
    return problems


def _splitting_types(type_of: TypeResolver) -> list[str]:
    """The task types whose runs ``fan_out`` can split (``Task.splits``)."""
    return [name for name in _known_types(type_of) if getattr(type_of(name), "splits", False)] or [
        "no installed task type"
    ]


def _known_types(type_of: TypeResolver) -> list[str]:
    known = getattr(type_of, "known_types", None)
    return list(known()) if callable(known) else []


def _check_references(
    specs: dict[str, TaskSpec],
    sources: dict[str, _RawTask],
    raw_tasks: list[_RawTask],
    problems: list[Problem],
) -> None:
    """``requires``, ``after`` and ``exclusive_with`` must name configured tasks.

    A task that is configured but invalid has its own problem, so naming it is no problem."""
    named = {str(r.settings.get("name")) for r in raw_tasks if isinstance(r.settings, dict)}
    for spec in specs.values():
        raw = sources[spec.name]
        for key in ("requires", "after", "exclusive_with"):
            for index, other in enumerate(getattr(spec.settings, key)):
                if other not in specs and other not in named:
                    hint = did_you_mean(other, specs)
                    path = (
                        (*raw.path, key, index)
                        if isinstance(raw.settings.get(key), list)
                        else (*raw.path, key)
                    )
                    problems.append(raw.document.problem(path, f"no task named {other!r}{hint}"))
                elif other == spec.name:
                    problems.append(
                        raw.document.problem((*raw.path, key), "a task cannot name itself")
                    )
        _check_ping_key(spec, specs, raw, problems)
        never_queued = spec.executor in ("manual", "heartbeat")
        for key in ("after", "at_start"):
            if never_queued and getattr(spec.settings, key):
                message = f"a {spec.executor} task is never queued, so it cannot use {key}"
                problems.append(raw.document.problem((*raw.path, key), message))


def _check_ping_key(
    spec: TaskSpec, specs: dict[str, TaskSpec], raw: _RawTask, problems: list[Problem]
) -> None:
    """A ping key must name one heartbeat task only: not also a task's name or another key."""
    key = spec.settings.ping_key
    if key is None:
        return
    path = (*raw.path, "ping_key")
    if spec.executor != "heartbeat":
        problems.append(raw.document.problem(path, "only heartbeat tasks take pings"))
    elif key in specs:
        problems.append(raw.document.problem(path, "a ping key must not be a task's name"))
    elif any(o.settings.ping_key == key for o in specs.values() if o.name < spec.name):
        problems.append(raw.document.problem(path, "another task has the same ping key"))


def _local_stores_beside(settings: Settings, base: Path) -> Settings:
    """A store given as a relative path is a directory beside the config file, as the
    SQLite database, ``env_file`` and ``include`` are: not wherever the command ran."""
    stores = {
        name: store.model_copy(update={"url": str(base / store.url)})
        if split_protocol(store.url)[0] is None and not Path(store.url).is_absolute()
        else store
        for name, store in settings.stores.items()
    }
    return settings.model_copy(update={"stores": stores})


def _database_url(settings: Settings, base: Path, environ: Mapping[str, str]) -> str:
    """``$SEXTON_DATABASE_URL`` wins; a relative SQLite path is beside the config file."""
    url = environ.get("SEXTON_DATABASE_URL") or settings.database or DEFAULT_DATABASE
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        url = prefix + str(base / url[len(prefix) :])
    return url
