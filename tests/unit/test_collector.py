"""Bulk jobs hold the garbage collector back while they run, and only while they run."""

from __future__ import annotations

import gc

from sexton.collector import BULK_THRESHOLD, rare_collections


def test_overlapping_bulk_jobs_restore_the_usual_threshold_when_the_last_one_ends() -> None:
    usual = gc.get_threshold()
    first, second = rare_collections(), rare_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == BULK_THRESHOLD  # the second job is still running
    second.__exit__(None, None, None)
    assert gc.get_threshold() == usual
    assert gc.isenabled()
