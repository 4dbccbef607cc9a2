"""`sexton alerts`: every expression scoped by the install's selector (two installs on one
Prometheus never see each other's series), a rule for Sexton itself being down, the idle
rule; checked by promtool, Prometheus's own rule checker and tester, when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

PROMTOOL = shutil.which("promtool")
CONFIG = """\
alerts: {selector: 'job="archive-a"'}
tasks:
  - {name: indexer, type: command, command: ['true'], every: 1h, alert: {idle_after: 2d}}
  - {name: nightly, type: command, command: ['true'], cron: '0 2 * * *'}
"""
# A metric name followed by its matchers; `up` is Prometheus's own series for the target.
SERIES = re.compile(r"\b(sexton_[a-z_]+|up)(\{[^}]*\})?")


def sexton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sexton", *args], capture_output=True, text=True, timeout=120
    )


def rules_of(output: str) -> list[dict[str, Any]]:
    loaded = YAML(typ="safe").load(output)
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sexton.yaml"
    path.write_text(CONFIG)
    return path


def test_every_series_in_every_rule_is_scoped_by_the_configured_selector(config: Path) -> None:
    result = sexton("alerts", "-c", str(config))
    assert result.returncode == 0, result.stderr
    rules = rules_of(result.stdout)
    names = {rule["alert"] for rule in rules}
    assert {"SextonDown", "SextonTaskIdle", "SextonTaskDown", "SextonTaskOverdue"} <= names
    for rule in rules:
        found = SERIES.findall(rule["expr"])
        assert found, rule["expr"]
        for metric, matchers in found:
            assert matchers.startswith('{job="archive-a"'), (metric, rule["expr"])
    down = next(rule for rule in rules if rule["alert"] == "SextonDown")
    assert down["expr"] == 'up{job="archive-a"} == 0'


def test_the_selector_flag_overrides_the_config(config: Path) -> None:
    result = sexton("alerts", "--selector", 'job="b", instance=~"host-b:.*"', "-c", str(config))
    assert result.returncode == 0, result.stderr
    for rule in rules_of(result.stdout):
        for _metric, matchers in SERIES.findall(rule["expr"]):
            assert matchers.startswith('{job="b", instance=~"host-b:.*"'), rule["expr"]


def test_a_malformed_selector_is_refused_naming_where(config: Path) -> None:
    config.write_text(CONFIG.replace("""'job="archive-a"'""", "'job=archive-a'"))
    checked = sexton("validate", "-c", str(config))
    assert checked.returncode == 2
    assert f"{config}:1: alerts.selector: not PromQL label matchers" in checked.stderr
    assert "Traceback" not in checked.stderr
    config.write_text(CONFIG)
    flagged = sexton("alerts", "--selector", "job=b}", "-c", str(config))
    assert flagged.returncode == 2 and flagged.stdout == ""
    assert "--selector" in flagged.stderr and "not PromQL label matchers" in flagged.stderr
    assert "Traceback" not in flagged.stderr


def _annotated(text: str, labels: dict[str, str]) -> str:
    """An annotation as Prometheus fills it in: each ``{{ $labels.X }}`` replaced."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)


@pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian: apt-get install prometheus)")
def test_promtool_fires_only_for_this_install(config: Path, tmp_path: Path) -> None:
    """Two installs scraped by one Prometheus, both down and both idle: each install's rules
    fire for its own target only."""
    assert PROMTOOL is not None
    rendered = sexton("alerts", "-c", str(config)).stdout
    (tmp_path / "rules.yml").write_text(rendered)
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    by_name = {rule["alert"]: rule for rule in rules_of(rendered)}

    def expected(alert: str, **labels: str) -> dict[str, Any]:
        rule = by_name[alert]
        everything = {**labels, **rule["labels"]}
        return {
            "exp_labels": everything,
            "exp_annotations": {
                k: _annotated(v, everything) for k, v in rule["annotations"].items()
            },
        }

    series = []
    for job, host in (("archive-a", "a:8080"), ("archive-b", "b:8080")):
        series.append({"series": f'up{{job="{job}",instance="{host}"}}', "values": "0x20"})
        idle = f'job="{job}",instance="{host}",task="indexer",type="command",status="idle"'
        series.append({"series": f"sexton_task_status{{{idle}}}", "values": "1x20"})
    target = {"job": "archive-a", "instance": "a:8080"}
    idle_labels = {**target, "task": "indexer", "type": "command", "status": "idle"}
    tests = {
        "rule_files": [str(tmp_path / "rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "SextonDown",
                        "exp_alerts": [expected("SextonDown", **target)],
                    },
                    {
                        "eval_time": "10m",
                        "alertname": "SextonTaskIdle",
                        "exp_alerts": [expected("SextonTaskIdle", **idle_labels)],
                    },
                    {"eval_time": "10m", "alertname": "SextonTaskDown", "exp_alerts": []},
                ],
            }
        ],
    }
    yaml = YAML()
    with (tmp_path / "tests.yml").open("w") as out:
        yaml.dump(tests, out)
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(tmp_path / "tests.yml")], capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
