"""`sexton plan` on a drain: what its next run copies to the archive and deletes from the
crawler's disk, checked against that run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner
from drain_support import drain_config, put

from sexton.cli import main

TASK = (
    "  - {name: drain, type: drain, source: crawl, prefix: warcs, destination: archive,"
    " max_size: 100}\n"
)


def sexton(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config)])
    return result.exit_code, result.output


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_plan_lists_the_copies_and_deletions_of_the_next_drain_run(
    tmp_path, crawl, archive, database_url
):
    old = time.time() - 86_400
    for index in range(3):
        put(crawl, f"warcs/{index}.warc.gz", b"w" * 100, old + index)
    config = tmp_path / "sexton.yaml"
    config.write_text(f"database: {database_url}\n" + drain_config(crawl, archive, TASK))

    code, output = sexton(config, "plan", "drain", "--json")
    assert code == 0, output
    planned = json.loads(output)
    deletes = {s["path"] for s in planned if s["action"] == "delete"}
    copies = {s["path"] for s in planned if s["action"] == "copy"}
    assert deletes == {"warcs/0.warc.gz", "warcs/1.warc.gz"}  # two full series; one waits
    assert len(copies) == 2 and {s["store"] for s in planned} == {"crawl", "archive"}
    assert files_under(archive) == set()  # planning copied nothing

    code, output = sexton(config, "run", "drain")
    assert code == 0, output
    assert files_under(crawl) == {"warcs/2.warc.gz"}  # exactly the planned ones went
    copied = {p for p in files_under(archive) if not p.endswith("MANIFEST")}
    # A new series is named at the moment it is packed: compare the files in each series.
    assert sorted(Path(p).name for p in copied) == sorted(Path(p).name for p in copies)
    assert len({Path(p).parent for p in copied}) == len({Path(p).parent for p in copies}) == 2


def test_a_store_out_of_reach_is_a_clear_error_not_a_traceback(tmp_path, crawl, database_url):
    config = tmp_path / "sexton.yaml"
    gone = tmp_path / "not-mounted"
    config.write_text(f"database: {database_url}\n" + drain_config(gone, crawl, TASK))
    code, output = sexton(config, "plan", "--json")
    assert code == 1, output
    assert output.startswith("error: cannot plan drain:") and "Traceback" not in output
