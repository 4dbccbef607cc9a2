"""The config file contract (DESIGN §4): one validated object, or every problem with its place."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sexton.config import Config, ConfigError, load_config
from sexton.schedule import Cron, Every
from sexton.tasks import registry
from sexton.tasks.base import Task, TaskParams


class CheckIntegrity(Task):
    """A check_integrity without store checks: these tests read the librarian format, not
    stores, so their configs need no `stores:` section."""

    type = "check_integrity"

    class Params(TaskParams):
        store_name: str
        age_in_days: int | None = 7


@pytest.fixture
def librarian_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stand-in ``check_integrity`` for one test only."""
    monkeypatch.setitem(registry._registered, CheckIntegrity.type, CheckIntegrity)
    yield


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(path: Path, **environ: str) -> Config:
    return load_config(path, registry.task_class, environ=environ)


def problems(path: Path, **environ: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, **environ)
    return [str(problem) for problem in caught.value.problems]


def only_problem(path: Path, **environ: str) -> str:
    found = problems(path, **environ)
    assert len(found) == 1, found
    return found[0]


# -- a valid file ---------------------------------------------------------------------------

VALID = """
    timezone: Europe/London
    tasks:
      - name: hourly
        type: command
        every: "01:00:00"
        soft_timeout: 90s
        hard_timeout: "1 day, 00:00:00"
        command: [echo, hi]
      - name: nightly
        type: command
        cron: "0 2 * * *"
        command: "echo nightly"
        requires: hourly
        after: [hourly]
        retries: {max: 3, backoff: 15m}
      - name: utc-report
        type: command
        cron: "0 0 0 * * *"
        timezone: UTC
        command: [/bin/true]
      - name: on-demand
        type: command
        command: [/bin/true]
"""


def test_a_valid_yaml_file_loads_into_one_object(tmp_path: Path) -> None:
    config = load(write(tmp_path, "sexton.yaml", VALID))
    assert list(config.tasks) == ["hourly", "nightly", "utc-report", "on-demand"]
    hourly = config.task("hourly")
    assert hourly.settings.every == timedelta(hours=1)
    assert hourly.settings.soft_timeout == timedelta(seconds=90)
    assert hourly.settings.hard_timeout == timedelta(days=1)
    assert hourly.params.command == ["echo", "hi"]
    assert hourly.executor == "local"
    assert hourly.origin == f"{tmp_path / 'sexton.yaml'}:3"
    nightly = config.task("nightly")
    assert nightly.settings.requires == ["hourly"]
    assert nightly.settings.after == ["hourly"]
    assert nightly.settings.retries.max == 3
    assert nightly.settings.retries.backoff == timedelta(minutes=15)


def test_schedules_come_from_every_or_cron_in_the_task_or_global_zone(tmp_path: Path) -> None:
    config = load(write(tmp_path, "sexton.yaml", VALID))
    assert config.task("hourly").schedule == Every(timedelta(hours=1))
    assert config.task("nightly").schedule == Cron("0 2 * * *", ZoneInfo("Europe/London"))
    assert config.task("utc-report").schedule == Cron("0 0 0 * * *", ZoneInfo("UTC"))
    assert config.task("on-demand").schedule is None


def test_the_default_time_zone_is_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path, "s.yaml", "tasks: [{name: a, type: command, cron: '0 2 * * *', command: x}]"
    )
    assert load(path).task("a").schedule == Cron("0 2 * * *", ZoneInfo("UTC"))


def test_a_json_file_is_accepted_too(tmp_path: Path) -> None:
    body = {"tasks": [{"name": "a", "type": "command", "every": 30, "command": ["true"]}]}
    config = load(write(tmp_path, "sexton.json", json.dumps(body, indent=2)))
    assert config.task("a").settings.every == timedelta(seconds=30)


def test_an_unknown_task_name_is_a_key_error_with_a_suggestion(tmp_path: Path) -> None:
    config = load(write(tmp_path, "sexton.yaml", VALID))
    with pytest.raises(KeyError, match="did you mean 'nightly'"):
        config.task("nigthly")


# -- syntax errors --------------------------------------------------------------------------


def test_json_with_a_trailing_comma_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.json",
        """
        {
          "tasks": [
            {"name": "a", "type": "command", "command": ["true"]},
          ]
        }
        """,
    )
    message = only_problem(path)
    assert message.startswith(f"{path}:4: ")
    assert "invalid JSON" in message


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            command: [/bin/true
        """,
    )
    message = only_problem(path)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message


def test_a_duplicate_yaml_key_is_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "timezone: UTC\ntimezone: Europe/London\n")
    assert only_problem(path).startswith(f"{path}:2: invalid YAML")


def test_a_file_that_is_not_utf8_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "sexton.yaml"
    path.write_bytes(b"timezone: UTC\n# caf\xe9\n")
    assert only_problem(path) == f"{path}:2: not UTF-8 text"


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    assert "cannot read" in only_problem(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize("body", ["- a\n- b\n", "just text\n", ""])
def test_the_top_level_must_be_a_mapping(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, "sexton.yaml", body)
    assert only_problem(path) == f"{path}:1: expected a mapping of settings"


# -- keys, types and values -----------------------------------------------------------------


def test_a_misspelt_task_key_names_line_path_and_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            evry: 1h
            command: [/bin/true]
        """,
    )
    assert only_problem(path) == (
        f"{path}:4: tasks[0].evry: unknown key 'evry' for a command task — did you mean 'every'?"
    )


def test_a_misspelt_task_type_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: comand
            command: [/bin/true]
        """,
    )
    assert only_problem(path) == (
        f"{path}:3: tasks[0].type: unknown task type 'comand' — did you mean 'command'?"
    )


def test_a_task_without_a_type_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks:\n  - name: a\n    command: [/bin/true]\n")
    assert only_problem(path) == f"{path}:2: tasks[0].type: missing key 'type' (the kind of task)"


def test_a_misspelt_setting_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks: []\ntimezon: UTC\n")
    assert only_problem(path) == (
        f"{path}:2: timezon: unknown setting 'timezon' — did you mean 'timezone'?"
    )


def test_a_task_that_is_not_a_mapping_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks:\n  - just a string\n")
    assert only_problem(path) == f"{path}:2: tasks[0]: expected a mapping of task settings"


def test_every_and_cron_together_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            every: 1h
            cron: "0 * * * *"
            command: [/bin/true]
        """,
    )
    assert only_problem(path) == f"{path}:2: tasks[0]: give either every or cron, not both"


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("61 * * * *", "'61 * * * *' is not a valid cron pattern"),
        ("* * *", "a cron pattern has 5 fields (or 6 with seconds first), not 3"),
    ],
)
def test_a_bad_cron_pattern_is_explained_at_its_line(
    tmp_path: Path, cron: str, reason: str
) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        f"""
        tasks:
          - name: a
            type: command
            cron: "{cron}"
            command: [/bin/true]
        """,
    )
    assert only_problem(path) == f"{path}:4: tasks[0].cron: {reason}"


def test_a_bad_task_time_zone_is_explained(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            cron: "0 2 * * *"
            timezone: Europe/Lundon
            command: [/bin/true]
        """,
    )
    assert only_problem(path) == (
        f"{path}:5: tasks[0].timezone: unknown time zone 'Europe/Lundon'"
        " (expected e.g. Europe/London)"
    )


def test_a_bad_global_time_zone_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks: []\ntimezone: Mars/Olympus\n")
    assert only_problem(path) == (
        f"{path}:2: timezone: unknown time zone 'Mars/Olympus' (expected e.g. Europe/London)"
    )


def test_a_bad_duration_names_the_accepted_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            soft_timeout: soon
            command: [/bin/true]
        """,
    )
    message = only_problem(path)
    assert message.startswith(f"{path}:4: tasks[0].soft_timeout: expected a duration such as ")
    assert "1d12h" in message and "'soon'" in message


@pytest.mark.parametrize("every", ["0", "0.5", "0s"])
def test_every_must_be_at_least_a_second(tmp_path: Path, every: str) -> None:
    path = write(
        tmp_path, "sexton.yaml", f"tasks: [{{name: a, type: command, every: {every}, command: x}}]"
    )
    assert "every must be at least one second" in only_problem(path)


def test_an_absurd_duration_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = write(
        tmp_path, "sexton.yaml", "tasks: [{name: a, type: command, every: .inf, command: x}]"
    )
    assert "tasks[0].every: expected a duration" in only_problem(path)


def test_nested_settings_errors_name_the_full_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            command: [/bin/true]
            retries:
              max: -1
              bakoff: 10s
        """,
    )
    found = problems(path)
    assert any(p.startswith(f"{path}:6: tasks[0].retries.max: ") for p in found), found
    assert f"{path}:7: tasks[0].retries.bakoff: unknown key 'bakoff'" in found


def test_wrongly_typed_settings_are_problems_not_crashes(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "env_file: 5\ninclude: 7\ntasks: {a: 1}\n")
    found = problems(path)
    assert len(found) == 3, found
    assert all(p.startswith(f"{path}:") for p in found)


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - {name: a, type: comand, command: x}
          - {name: b, type: command, evry: 1h, command: x}
          - {name: c, type: command, cron: nope, command: x}
        """,
    )
    found = problems(path)
    assert [p.split(": ")[0] for p in found] == [f"{path}:2", f"{path}:3", f"{path}:4"]


# -- names and references -------------------------------------------------------------------


def test_duplicate_task_names_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - {name: a, type: command, command: x}
          - {name: a, type: command, command: y}
        """,
    )
    assert only_problem(path) == f"{path}:3: tasks[1].name: duplicate task name 'a'"


def test_references_to_unknown_tasks_are_named_where_they_are(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: initial-sync
            type: command
            command: x
          - name: healing
            type: command
            command: x
            requires: [initial-synk]
            after: nowhere
            exclusive_with: [initial-sync, backup]
        """,
    )
    assert problems(path) == [
        f"{path}:8: tasks[1].requires[0]: no task named 'initial-synk'"
        " — did you mean 'initial-sync'?",
        f"{path}:9: tasks[1].after: no task named 'nowhere'",
        f"{path}:10: tasks[1].exclusive_with[1]: no task named 'backup'",
    ]


def test_reference_problems_point_at_the_task_that_was_kept_not_a_duplicate(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - name: a
            type: command
            command: x
            requires: [nowhere]
          - name: a
            type: command
            command: y
        """,
    )
    assert problems(path) == [
        f"{path}:6: tasks[1].name: duplicate task name 'a'",
        f"{path}:5: tasks[0].requires[0]: no task named 'nowhere'",
    ]


def test_a_task_cannot_name_itself(tmp_path: Path) -> None:
    path = write(
        tmp_path, "sexton.yaml", "tasks:\n  - {name: a, type: command, command: x, after: [a]}\n"
    )
    assert only_problem(path) == f"{path}:2: tasks[0].after: a task cannot name itself"


def test_naming_a_task_that_is_invalid_reports_only_the_invalid_task(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - {name: broken, type: command, command: x, every: never}
          - {name: b, type: command, command: x, requires: broken}
        """,
    )
    assert only_problem(path).startswith(f"{path}:2: tasks[0].every: expected a duration")


# -- environment ----------------------------------------------------------------------------

WITH_VARIABLES = textwrap.dedent("""
    api:
      tokens: {admin: "${ADMIN_TOKEN}"}
    tasks:
      - name: a
        type: command
        command: ["${TOOL}", "--level=${LEVEL:-3}"]
        enabled: "${ENABLE_A:-true}"
""")


def test_variables_are_expanded_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", WITH_VARIABLES)
    config = load(path, ADMIN_TOKEN="s3cret", TOOL="rsync", ENABLE_A="false")
    assert config.settings.api.tokens == {"admin": "s3cret"}
    assert config.task("a").params.command == ["rsync", "--level=3"]
    assert config.task("a").settings.enabled is False


def test_a_default_is_used_when_the_variable_is_unset_or_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", WITH_VARIABLES)
    config = load(path, ADMIN_TOKEN="t", TOOL="rsync", LEVEL="")
    assert config.task("a").params.command == ["rsync", "--level=3"]
    assert config.task("a").settings.enabled is True
    config = load(path, ADMIN_TOKEN="t", TOOL="rsync", LEVEL="9")
    assert config.task("a").params.command == ["rsync", "--level=9"]


def test_a_missing_variable_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", WITH_VARIABLES)
    assert problems(path, TOOL="rsync") == [
        f"{path}:2: api.tokens.admin: environment variable ADMIN_TOKEN is not set"
    ]


def test_a_variable_set_empty_without_default_expands_to_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", WITH_VARIABLES)
    config = load(path, ADMIN_TOKEN="", TOOL="rsync")
    assert config.settings.api.tokens == {"admin": ""}


def test_env_file_values_expand_the_config_and_reach_the_tasks(tmp_path: Path) -> None:
    write(
        tmp_path,
        "deploy/prod.env",
        """
        # deployment settings
        export TOOL=rclone
        ADMIN_TOKEN='from file'
        GREETING="hello world"  # trailing comment

        """,
    )
    path = write(tmp_path, "sexton.yaml", "env_file: deploy/prod.env\n" + WITH_VARIABLES)
    config = load(path)
    assert config.settings.api.tokens == {"admin": "from file"}
    assert config.task("a").params.command == ["rclone", "--level=3"]
    assert config.task("a").env["GREETING"] == "hello world"


def test_env_file_names_take_variables_with_defaults(tmp_path: Path) -> None:
    write(tmp_path, "deploy/dev.env", "TOOL=dev-tool\nADMIN_TOKEN=dev\n")
    write(tmp_path, "deploy/prod.env", "TOOL=prod-tool\nADMIN_TOKEN=prod\n")
    text = "env_file: ${DEPLOY_ENV:-deploy/dev.env}\n" + WITH_VARIABLES
    path = write(tmp_path, "sexton.yaml", text)
    assert load(path).task("a").params.command == ["dev-tool", "--level=3"]
    chosen = load(path, DEPLOY_ENV="deploy/prod.env")
    assert chosen.task("a").params.command == ["prod-tool", "--level=3"]


def test_yaml_merge_keys_share_settings_and_errors_keep_their_lines(tmp_path: Path) -> None:
    text = """
        tasks:
          - &common {name: a, type: command, command: x, every: 1h}
          - <<: *common
            name: b
            evry: 2h
        """
    path = write(tmp_path, "sexton.yaml", text)
    assert only_problem(path).startswith(f"{path}:5: tasks[1].evry: unknown key 'evry'")
    config = load(write(tmp_path, "ok.yaml", text.replace("evry", "every")))
    assert [config.task(n).params.command for n in ("a", "b")] == ["x", "x"]
    assert config.task("b").settings.every == timedelta(hours=2)


def test_the_real_environment_wins_over_env_file(tmp_path: Path) -> None:
    write(tmp_path, "prod.env", "TOOL=rclone\nADMIN_TOKEN=file\n")
    path = write(tmp_path, "sexton.yaml", "env_file: [prod.env]\n" + WITH_VARIABLES)
    config = load(path, TOOL="rsync")
    assert config.task("a").params.command == ["rsync", "--level=3"]
    assert config.task("a").env["TOOL"] == "rsync"
    assert config.settings.api.tokens == {"admin": "file"}


def test_a_task_env_file_adds_to_that_task_only(tmp_path: Path) -> None:
    write(tmp_path, "a.env", "ONLY_A=yes\n")
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        tasks:
          - {name: a, type: command, command: x, env_file: a.env}
          - {name: b, type: command, command: x}
        """,
    )
    config = load(path, SHARED="1")
    assert config.task("a").env == {"SHARED": "1", "ONLY_A": "yes"}
    assert config.task("b").env == {"SHARED": "1"}


def test_a_missing_env_file_is_reported_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks: []\nenv_file: [nowhere.env]\n")
    message = only_problem(path)
    assert message.startswith(f"{path}:2: env_file[0]: cannot read env file ")
    assert "nowhere.env" in message


def test_a_bad_env_file_line_names_both_files(tmp_path: Path) -> None:
    env = write(tmp_path, "bad.env", "GOOD=1\nthis is not an assignment\n")
    path = write(tmp_path, "sexton.yaml", "tasks: []\nenv_file: bad.env\n")
    assert only_problem(path) == (
        f"{path}:2: env_file[0]: {env}:2: expected KEY=VALUE, got 'this is not an assignment'"
    )


# -- include --------------------------------------------------------------------------------


def test_includes_are_relative_to_the_including_file_and_nest(tmp_path: Path) -> None:
    write(tmp_path, "conf/more/deeper.yaml", "tasks: [{name: c, type: command, command: x}]\n")
    write(
        tmp_path,
        "conf/more/tasks.yaml",
        """
        include: deeper.yaml
        tasks: [{name: b, type: command, command: x, after: a}]
        """,
    )
    path = write(
        tmp_path,
        "conf/sexton.yaml",
        """
        include: [more/tasks.yaml]
        tasks: [{name: a, type: command, command: x, requires: c}]
        """,
    )
    config = load(path)
    assert set(config.tasks) == {"a", "b", "c"}
    assert config.task("c").origin == f"{tmp_path / 'conf/more/deeper.yaml'}:1"


def test_included_files_see_the_same_variables(tmp_path: Path) -> None:
    write(tmp_path, "vars.env", "TOOL=rclone\n")
    write(tmp_path, "more.yaml", "tasks: [{name: b, type: command, command: '${TOOL} sync'}]\n")
    path = write(tmp_path, "sexton.yaml", "env_file: vars.env\ninclude: more.yaml\n")
    assert load(path).task("b").params.command == "rclone sync"


def test_problems_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    more = write(tmp_path, "more.yaml", "tasks:\n  - {name: b, type: command, evry: 1h}\n")
    path = write(tmp_path, "sexton.yaml", "include: [more.yaml]\n")
    found = problems(path)
    assert (
        f"{more}:2: tasks[0].evry: unknown key 'evry' for a command task — did you mean"
        in (found[0])
    )


def test_a_trailing_comma_in_an_included_json_names_that_file(tmp_path: Path) -> None:
    more = write(tmp_path, "more.json", '{"tasks": [\n  {"name": "b"},\n]}\n')
    path = write(tmp_path, "sexton.yaml", "include: [more.json]\n")
    assert only_problem(path).startswith(f"{more}:3: invalid JSON")


def test_an_include_loop_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "include: [c.yaml]\ntasks: []\n")
    c = write(tmp_path, "c.yaml", "include: [b.yaml]\ntasks: []\n")
    path = write(tmp_path, "sexton.yaml", "include: [b.yaml]\n")
    assert only_problem(path) == (f"{c}:1: include[0]: {tmp_path / 'b.yaml'} is included in a loop")


def test_a_file_including_itself_is_a_loop(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "include: [sexton.yaml]\n")
    assert "is included in a loop" in only_problem(path)


def test_the_same_file_included_twice_side_by_side_is_not_a_loop(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", "tasks: []\n")
    write(tmp_path, "a.yaml", "include: common.yaml\n")
    write(tmp_path, "b.yaml", "include: common.yaml\n")
    path = write(tmp_path, "sexton.yaml", "include: [a.yaml, b.yaml]\n")
    assert load(path).tasks == {}


def test_a_missing_include_is_reported_at_the_include_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "tasks: []\ninclude:\n  - nowhere.yaml\n")
    assert only_problem(path) == (
        f"{path}:3: include[0]: cannot read included file {tmp_path / 'nowhere.yaml'}"
    )


def test_an_included_file_holds_only_tasks_and_includes(tmp_path: Path) -> None:
    more = write(tmp_path, "more.yaml", "database: sqlite:///other.db\ntasks: []\n")
    path = write(tmp_path, "sexton.yaml", "include: [more.yaml]\n")
    assert only_problem(path) == (
        f"{more}:1: an included file holds only tasks and include, not ['database']"
    )


def test_an_included_file_with_tasks_that_are_not_a_list_is_reported(tmp_path: Path) -> None:
    more = write(tmp_path, "more.yaml", "tasks:\n  a: {type: command}\n")
    path = write(tmp_path, "sexton.yaml", "include: [more.yaml]\n")
    assert only_problem(path) == f"{more}:1: tasks: expected a list of tasks"


# -- the librarian background-task format ---------------------------------------------------

LIBRARIAN = """
{
  "check_integrity": [
    {
      "task_name": "Integrity check",
      "every": "1 day, 00:00:00",
      "soft_timeout": "01:00:00",
      "store_name": "store",
      "age_in_days": 30
    },
    {"task_name": "Quick check", "every": "00:10:00", "store_name": "clone"}
  ],
  "recieve_clone": [
    {"task_name": "Receiver", "every": "00:01:00"}
  ]
}
"""


def test_librarian_types_unknown_here_are_reported_with_file_and_line(
    tmp_path: Path, librarian_types: None
) -> None:
    unknown = LIBRARIAN.replace("recieve_clone", "receive_clones")
    path = write(tmp_path, "librarian-background.json", unknown)
    assert problems(path) == [
        f"{path}:13: receive_clones[0].type: unknown task type 'receive_clones' "
        "— did you mean 'receive_clone'?",
    ]


def test_a_librarian_file_loads_as_tasks_when_its_types_exist(
    tmp_path: Path, librarian_types: None
) -> None:
    body = json.loads(LIBRARIAN)
    del body["recieve_clone"]
    path = write(tmp_path, "librarian-background.json", json.dumps(body, indent=2))
    config = load(path)
    assert list(config.tasks) == ["Integrity check", "Quick check"]
    check = config.task("Integrity check")
    assert check.type == "check_integrity"
    assert check.settings.every == timedelta(days=1)
    assert check.settings.soft_timeout == timedelta(hours=1)
    assert check.params == CheckIntegrity.Params(store_name="store", age_in_days=30)
    assert config.task("Quick check").params.age_in_days == 7
    assert config.database_url == f"sqlite:///{tmp_path / 'sexton.db'}"


def test_recieve_clone_is_read_as_receive_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ReceiveClone(Task):
        type = "receive_clone"

    monkeypatch.setitem(registry._registered, ReceiveClone.type, ReceiveClone)
    path = write(tmp_path, "lib.json", '{"recieve_clone": [{"task_name": "r", "every": 60}]}')
    assert load(path).task("r").type == "receive_clone"


def test_a_librarian_file_can_be_included(tmp_path: Path, librarian_types: None) -> None:
    write(
        tmp_path,
        "librarian/background.json",
        '{"check_integrity": [{"task_name": "check", "store_name": "${STORE:-store}"}]}',
    )
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        include: [librarian/background.json]
        tasks: [{name: heal, type: command, command: x, requires: check}]
        """,
    )
    config = load(path, STORE="clone")
    assert set(config.tasks) == {"heal", "check"}
    assert config.task("check").params.store_name == "clone"


def test_variables_are_expanded_in_a_librarian_file_loaded_directly(
    tmp_path: Path, librarian_types: None
) -> None:
    path = write(
        tmp_path, "lib.json", '{"check_integrity": [{"task_name": "c", "store_name": "${S}"}]}'
    )
    assert load(path, S="clone").task("c").params.store_name == "clone"
    assert (
        only_problem(path)
        == f"{path}:1: check_integrity[0].store_name: environment variable S is not set"
    )


def test_a_misspelt_librarian_setting_is_reported_with_a_suggestion(
    tmp_path: Path, librarian_types: None
) -> None:
    path = write(
        tmp_path,
        "lib.json",
        '{"check_integrity": [\n  {"task_name": "c", "store_nme": "s", "store_name": "s"}\n]}',
    )
    assert only_problem(path) == (
        f"{path}:2: check_integrity[0].store_nme: unknown key 'store_nme' for a check_integrity"
        " task — did you mean 'store_name'?"
    )


# -- database -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        (None, "sqlite:///{dir}/sexton.db"),
        ("sqlite:///state/sexton.db", "sqlite:///{dir}/state/sexton.db"),
        ("sqlite:////var/lib/sexton.db", "sqlite:////var/lib/sexton.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://sexton@db/sexton", "postgresql://sexton@db/sexton"),
    ],
)
def test_a_relative_sqlite_database_lives_beside_the_config_file(
    tmp_path: Path, database: str | None, expected: str
) -> None:
    body = "tasks: []\n" + (f"database: '{database}'\n" if database else "")
    path = write(tmp_path, "conf/sexton.yaml", body)
    assert load(path).database_url == expected.format(dir=tmp_path / "conf")


def test_sexton_database_url_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "sexton.yaml", "database: sqlite:///sexton.db\ntasks: []\n")
    config = load(path, SEXTON_DATABASE_URL="postgresql://u@h/db")
    assert config.database_url == "postgresql://u@h/db"


# -- no input crashes the loader ------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "1h", "* * * * *", "a", "b", "command", "UTC", "${X}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
task_keys = st.sampled_from(
    ["name", "type", "every", "cron", "timezone", "requires", "after", "exclusive_with",
     "retries", "alert", "env_file", "command", "concurrency", "enabled", "soft_timeout"]
)  # fmt: skip
tasks = st.dictionaries(task_keys, values, max_size=5).map(
    lambda t: {"name": "a", "type": "command", "command": "x", **t}
)
top_keys = st.sampled_from(["timezone", "env_file", "include", "api", "stores", "worker", "db"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(top_keys, values, max_size=3),
    st.lists(tasks | values, max_size=3),
)
def test_any_json_gives_a_config_or_config_errors_never_a_crash(
    tmp_path: Path, top: dict, task_list: list
) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({**top, "tasks": task_list}))
    try:
        load(path)
    except ConfigError as error:
        assert all(str(p).startswith(str(path)) for p in error.problems)


def test_a_relative_store_path_is_beside_the_config_file(tmp_path: Path, monkeypatch) -> None:
    path = write(
        tmp_path,
        "site/sexton.yaml",
        "stores:\n  ingest: {url: data/ingest}\n  bucket: {url: 'memory://b'}\n"
        "  fixed: {url: /srv/archive}\ntasks: []\n",
    )
    monkeypatch.chdir(tmp_path)  # somewhere else than the config's directory
    stores = load(path).settings.stores
    assert stores["ingest"].url == str(tmp_path / "site" / "data" / "ingest")
    assert (stores["bucket"].url, stores["fixed"].url) == ("memory://b", "/srv/archive")


def test_a_task_naming_a_store_that_is_not_configured_is_refused_at_its_key(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        stores:
          disk1: {url: /srv/disk1}
          archive: {url: /srv/archive}
        tasks:
          - {name: s, type: scan, store: disk9}
          - {name: d, type: drain, source: disk1, destination: archve, max_size: 1GB}
          - name: idx
            type: command
            command: x
            for_each_file: {store: disk2, needs: indexed}
        """,
    )
    found = problems(path)
    assert found == [
        f"{path}:5: tasks[0].store: no store named 'disk9' — did you mean 'disk1'?",
        f"{path}:6: tasks[1].destination: no store named 'archve' — did you mean 'archive'?",
        f"{path}:10: tasks[2].for_each_file.store: no store named 'disk2' — did you mean 'disk1'?",
    ], found


def test_transfer_and_staging_stores_must_be_configured(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        """
        stores:
          staging: {url: /srv/staging}
        transfer: {staging: stagin, store: archive}
        tasks:
          - {name: q, type: consume_queue, transport: store, staging_store: nowhere}
        """,
    )
    found = problems(path)
    assert found == [
        f"{path}:3: transfer.staging: no store named 'stagin' — did you mean 'staging'?",
        f"{path}:3: transfer.store: no store named 'archive'",
        f"{path}:5: tasks[0].staging_store: no store named 'nowhere'",
    ], found


def test_retries_as_a_number_is_the_count_of_quick_retries(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sexton.yaml",
        "tasks:\n  - {name: site, type: http_check, url: 'http://127.0.0.1:1/', retries: 3}\n",
    )
    assert load(path).task("site").settings.retries.max == 3
    bad = write(
        tmp_path, "bad.yaml", "tasks:\n  - {name: a, type: command, command: x, retries: -1}\n"
    )
    assert "retries.max" in only_problem(bad)
