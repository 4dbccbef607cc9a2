"""Chaos: the crash tests' scenarios with 100 SIGKILLs each instead of CI's 20.

Not a test suite, but it fails loudly: a broken invariant stops it with the assertion.
Run ``python bench/chaos.py [--trials N] [--only clone|drain] [--database sqlite|postgres]``.
Each scenario (``CloneCrash`` of tests/datacare/test_crash.py, ``DrainCrash`` of
tests/drain/test_drain_crash.py) runs through the shared harness, tests/crash_harness.py:
``sexton run TASK`` in a process, SIGKILLed at a random moment, its lease expired, the
invariants checked after every kill, then one run left to finish and the work checked
complete. PostgreSQL is ``$SEXTON_TEST_PG`` (a throwaway schema, dropped afterwards); leave
it out with ``--database sqlite``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "datacare"), str(TESTS / "drain")]

from test_crash import CloneCrash  # noqa: E402
from test_drain_crash import DrainCrash  # noqa: E402

from conftest import postgres_schema  # noqa: E402  (tests/conftest.py)
from crash_harness import Scenario, run_trials  # noqa: E402


@contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'sexton.db'}"
        return
    with postgres_schema() as url:
        yield url


SCENARIOS: dict[str, Callable[[Path, str, int], Scenario]] = {
    "clone": lambda root, url, trials: CloneCrash(root, url, trials),
    "drain": lambda root, url, trials: DrainCrash(root, url),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100, help="kills per scenario")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"{'scenario':<8} {'database':<9} {'trials':>6} {'killed':>6} {'seconds':>8}  result")
    for name in args.only or sorted(SCENARIOS):
        for kind in args.database or ["sqlite", "postgres"]:
            with (
                tempfile.TemporaryDirectory(prefix=f"sexton-chaos-{name}-") as tmp,
                database(kind, Path(tmp)) as url,
            ):
                scenario = SCENARIOS[name](Path(tmp), url, args.trials)
                start = time.perf_counter()
                try:
                    outcome = run_trials(scenario, args.trials, random.Random(args.seed))
                finally:
                    scenario.instance.engine.dispose()
                seconds = time.perf_counter() - start
                print(
                    f"{name:<8} {kind:<9} {outcome.trials:>6} {outcome.killed:>6}"
                    f" {seconds:>7.0f}s  invariants held after every kill; completed",
                    flush=True,
                )


if __name__ == "__main__":
    main()
