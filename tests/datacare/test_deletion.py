"""rolling_deletion and the one deletion function: only copies that N verified, matching,
recent other copies vouch for ever go (DESIGN §5, invariant 1)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from datacare_support import flip_a_byte

from sexton.db.catalog_tables import instances, remote_instances
from sexton.stores import open_store

DELETE = (
    "  - {name: delete, type: rolling_deletion, store_name: store, age_in_days: 0,"
    " number_of_copies: %d, max_verification_age: 7d%s}\n"
)
CHECK_COPY1 = "  - {name: fixity-copy1, type: check_integrity, store_name: copy1}\n"


def copied(here, name: str, data: bytes, stores=("copy1", "copy2")) -> None:
    """``name`` on the main store and on each of ``stores``, every copy verified by a scan."""
    for store in ("store", *stores):
        here.put(name, data, store=store)
    for store in ("store", *stores):
        here.scan(store)


def test_local_file_stays_when_the_only_other_copy_is_corrupt(site):
    here = site(DELETE % (1, "") + CHECK_COPY1, copy1="")
    copied(here, "a", b"precious", stores=("copy1",))
    flip_a_byte(here.dir("copy1") / "a")
    assert here.run("fixity-copy1").startswith("failed: 1 corrupt")
    assert here.run("delete") == "succeeded"
    assert here.copies("a")["store"].state == "present"
    assert (here.dir() / "a").read_bytes() == b"precious"


def test_two_verified_copies_let_the_local_one_go(site):
    here = site(DELETE % (2, ""), copy1="", copy2="")
    copied(here, "a", b"plenty")
    copied(here, "b", b"only one", stores=("copy1",))
    assert here.run("delete") == "succeeded"
    assert here.copies("a")["store"].state == "deleted"
    assert not (here.dir() / "a").exists()
    assert here.copies("b")["store"].state == "present"  # one copy is not two
    assert here.last_run("delete") == (1, len(b"plenty"))


def test_dry_run_lists_and_deletes_nothing(site):
    here = site(DELETE % (1, ", dry_run: true"), copy1="")
    copied(here, "a", b"x", stores=("copy1",))
    copied(here, "b", b"y", stores=())
    assert here.run("delete") == "succeeded"
    assert (here.dir() / "a").exists()
    assert here.copies("a")["store"].state == "present"
    listed = [e for e in here.events("delete") if e.startswith("would delete")]
    assert listed == ["would delete store=store path=a"]


def test_unverified_stale_and_mismatching_copies_do_not_count(site, clock):
    here = site(
        DELETE % (1, "")
        + "  - {name: plain-copy2, type: scan, store: copy2}\n"
        + "  - {name: verify, type: rolling_deletion, store_name: store, age_in_days: 0,"
        " number_of_copies: 1, max_verification_age: 7d, verify_checksums: true}\n",
        copy1="",
        copy2="",
        copy3="",
    )
    here.put("stale", b"s")
    here.put("stale", b"s", store="copy1")
    here.put("unverified", b"u")
    here.put("unverified", b"u", store="copy2")
    here.put("other", b"o")
    here.put("other", b"not the same", store="copy3")
    here.scan("store")
    here.scan("copy1")
    here.scan("copy3")
    here.run("plain-copy2")
    clock.advance(timedelta(days=8))
    here.scan("store")  # nothing new: the store's own copies keep their old verification
    assert here.run("delete") == "succeeded"
    assert {n: here.copies(n)["store"].state for n in ("stale", "unverified", "other")} == {
        "stale": "present",
        "unverified": "present",
        "other": "present",
    }
    # verify_checksums re-hashes the other copies first: a stale one that is still good counts.
    assert here.run("verify") == "succeeded"
    assert here.copies("stale")["store"].state == "deleted"
    assert here.copies("stale")["copy1"].verified_at == clock.now()
    assert here.copies("unverified")["store"].state == "present"
    assert here.copies("other")["store"].state == "present"


def test_verify_checksums_catches_a_copy_that_rotted_since_its_last_check(site, clock):
    here = site(DELETE % (1, ", verify_checksums: true"), copy1="")
    copied(here, "a", b"abc", stores=("copy1",))
    flip_a_byte(here.dir("copy1") / "a")
    outcome = here.run("delete")
    assert outcome.startswith("failed: corrupt copies found while verifying: copy1:a"), outcome
    assert here.copies("a")["store"].state == "present"
    assert here.copies("a")["copy1"].state == "corrupt"


def test_the_rule_is_checked_again_at_the_moment_of_deleting(site):
    here = site(DELETE % (1, "") + CHECK_COPY1, copy1="")
    copied(here, "a", b"abc", stores=("copy1",))
    catalog = here.catalog
    now = here.instance.clock.now()
    (candidate,) = catalog.deletable("store", now, 1, timedelta(days=7), force=True)
    flip_a_byte(here.dir("copy1") / "a")
    here.run("fixity-copy1")  # the only other copy turns out corrupt after the listing
    store = open_store("store", here.instance.config.settings.stores["store"])
    assert not catalog.delete_copy(candidate, store, 1, timedelta(days=7), force=True)
    assert (here.dir() / "a").exists()
    assert here.copies("a")["store"].state == "present"


def test_a_confirmed_remote_copy_counts(site):
    here = site(DELETE % (1, ""))
    copied(here, "a", b"abc", stores=())
    file = here.catalog.show("a").file
    with here.instance.engine.begin() as connection:
        connection.execute(
            sa.insert(remote_instances).values(
                file_id=file.id,
                site="elsewhere",
                store="vault",
                checksum=file.checksum,
                confirmed_at=here.instance.clock.now(),
            )
        )
    assert here.run("delete") == "succeeded"
    assert here.copies("a")["store"].state == "deleted"


def allow_deletion(here, name: str, store: str = "store") -> None:
    """Register the copy ``allowed``, as a backup or a receive_clone with ALLOWED would."""
    copy = (instances.c.store == store) & (instances.c.path == name)
    with here.instance.engine.begin() as connection:
        connection.execute(sa.update(instances).where(copy).values(deletion_policy="allowed"))


def test_a_copy_whose_policy_disallows_deletion_stays_unless_forced(site):
    here = site(DELETE % (1, ", force_deletion: false"), copy1="")
    copied(here, "kept", b"kept", stores=("copy1",))
    copied(here, "freed", b"freed", stores=("copy1",))
    allow_deletion(here, "freed")
    assert here.copies("kept")["store"].deletion_policy == "disallowed"  # a scan's default
    assert here.run("delete") == "succeeded"
    assert here.copies("kept")["store"].state == "present"
    assert (here.dir() / "kept").read_bytes() == b"kept"
    assert here.copies("freed")["store"].state == "deleted"

    catalog, week = here.catalog, timedelta(days=7)
    (kept,) = catalog.deletable("store", here.instance.clock.now(), 1, week, force=True)
    store = open_store("store", here.instance.config.settings.stores["store"])
    assert not catalog.delete_copy(kept, store, 1, week)  # the one function refuses it
    assert (here.dir() / "kept").exists()
    assert catalog.delete_copy(kept, store, 1, week, force=True)
    assert not (here.dir() / "kept").exists()


def test_rolling_deletion_overrides_the_policy_by_default_as_the_librarian_does(site):
    here = site(DELETE % (1, ""), copy1="")
    copied(here, "a", b"abc", stores=("copy1",))
    assert here.copies("a")["store"].deletion_policy == "disallowed"
    assert here.run("delete") == "succeeded"
    assert here.copies("a")["store"].state == "deleted"
