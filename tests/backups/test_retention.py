"""Retention: what `max_age`, `keep_last` and `keep_monthly` keep, over months of a fake
clock, and the three things it never deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backup_support import DAY, T0, record, run_task

from sexton.backups import BackupBook
from sexton.backups.retention import RetentionPolicy, expired


def names(backups):
    return [b.name for b in backups]


def test_daily_backups_over_120_days_keep_exactly_what_the_policy_says(
    open_instance, clock, store_dir
):
    instance = open_instance(
        f"stores:\n  vault: {{url: '{store_dir.as_uri()}'}}\n"
        "tasks:\n  - name: nightly\n    type: backup\n    destination: vault\n"
        "    source: {command: [printf, backup], suffix: txt}\n"
        "    retention: {max_age: 10d, keep_monthly: 3}\n"
    )
    book = BackupBook(instance.engine)
    first = clock.now()
    for day in range(120):
        run = run_task(instance, "nightly")
        assert run.state == "succeeded", run.error
        if day == 5:  # a person keeps the sixth backup (`sexton backup keep`)
            book.keep("nightly", book.of_task("nightly")[0].name)
        clock.advance(DAY)
    last = first + 119 * DAY  # 2026-05-04
    live = {b.created_at for b in book.of_task("nightly")}
    expected = (
        {last - n * DAY for n in range(10)}  # younger than 10 days: Apr 25 .. May 4
        | {datetime(2026, 3, 31, tzinfo=UTC)}  # March's newest (April's and May's are above)
        | {first + 5 * DAY}  # kept by hand
    )
    assert live == expected
    on_disk = {str(p.relative_to(store_dir)) for p in store_dir.rglob("*") if p.is_file()}
    assert on_disk == {b.name for b in book.of_task("nightly")}
    assert len(book.of_task("nightly", include_deleted=True)) == 120


def test_keep_last_keeps_the_newest_verified_ones():
    backups = [record(i, i) for i in range(10)]
    policy = RetentionPolicy(keep_last=3)
    assert names(expired(backups, policy, T0 + 100 * DAY)) == [f"b{i}" for i in range(7)]


def test_keep_monthly_keeps_the_newest_of_each_recent_month():
    backups = [record(i, i * 10) for i in range(10)]  # Jan 1 .. Apr 1, every ten days
    policy = RetentionPolicy(keep_monthly=2)
    kept = set(names(backups)) - set(names(expired(backups, policy, T0 + 100 * DAY)))
    assert kept == {"b9", "b8"}  # Apr 1 (April) and Mar 22 (March)


def test_nothing_is_deleted_while_the_newest_backup_is_unverified():
    backups = [record(i, i) for i in range(10)] + [record(10, 10, verify_ok=None)]
    assert expired(backups, RetentionPolicy(keep_last=1), T0 + 100 * DAY) == []
    backups[-1] = record(10, 10, verify_ok=False)
    assert expired(backups, RetentionPolicy(keep_last=1), T0 + 100 * DAY) == []


def test_the_newest_verified_and_kept_backups_survive_any_policy():
    backups = [record(0, 0, keep=True), record(1, 1), record(2, 2), record(3, 3, verify_ok=None)]
    backups.append(record(4, 4))
    gone = names(expired(backups, RetentionPolicy(max_age=timedelta(hours=1)), T0 + 50 * DAY))
    assert gone == ["b1", "b2", "b3"]


def test_failed_backups_do_not_count_towards_keep_last():
    backups = [record(0, 0), record(1, 1, verify_ok=False), record(2, 2)]
    assert names(expired(backups, RetentionPolicy(keep_last=2), T0 + 50 * DAY)) == ["b1"]
