"""`sexton catalog enable|disable STORE`: the API's store switch from the command line, seen
by every task at once; a store the config does not name is refused and nothing changes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from sexton.cli import main

CLONE = (
    "  - {name: clone, type: create_local_clone, clone_from: store,"
    " clone_to: [drive1, drive2], age_in_days: null}\n"
)


def sexton(here, *args: str):
    return CliRunner().invoke(main, [*args, "-c", str(here.root / "sexton.yaml")])


def enabled(here) -> dict[str, bool]:
    result = sexton(here, "catalog", "stats", "--json")
    assert result.exit_code == 0, result.output
    return {name: s["enabled"] for name, s in json.loads(result.output)["stores"].items()}


def test_a_disabled_store_is_skipped_until_enabled_again(site):
    here = site(CLONE, drive1="", drive2="")
    here.put("a", b"first")
    here.scan()
    result = sexton(here, "catalog", "disable", "drive1")
    assert result.exit_code == 0, result.output
    assert "store drive1 disabled" in result.output
    assert enabled(here) == {"store": True, "drive1": False, "drive2": True}
    assert here.run("clone") == "succeeded"
    assert set(here.copies("a")) == {"store", "drive2"}

    assert sexton(here, "catalog", "enable", "drive1").exit_code == 0
    assert enabled(here)["drive1"] is True
    here.put("b", b"second")
    here.scan()
    assert here.run("clone") == "succeeded"
    assert set(here.copies("b")) == {"store", "drive1"}


def test_an_unknown_store_is_refused_with_a_suggestion_and_nothing_changes(site):
    here = site(CLONE, drive1="", drive2="")
    before = enabled(here)
    result = sexton(here, "catalog", "disable", "drvie1")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: no store named 'drvie1' in the config — did you mean 'drive1'?"
    )
    assert enabled(here) == before
