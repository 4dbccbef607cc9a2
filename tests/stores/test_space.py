"""Free space, reserve and capacity decide whether a store has room for more."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sexton.sizes import Reserve
from sexton.stores import Store, StoreError, StoreSettings, open_store


def local(tmp_path: Path, **settings: object) -> Store:
    return open_store("disk", StoreSettings(url=tmp_path.as_uri(), **settings))


def test_local_free_space_is_the_device_free_space(tmp_path: Path) -> None:
    store = local(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    assert store.free_space() == pytest.approx(free, rel=0.01)
    assert store.has_room_for(1)
    assert not store.has_room_for(shutil.disk_usage(tmp_path).total + 1)


def test_percentage_reserve_of_a_local_disk_is_kept_free(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    store = local(tmp_path, reserve="50%")
    expected = max(0, usage.free - usage.total // 2)
    assert store.usable_space() == pytest.approx(expected, abs=10**8)


def test_capacity_caps_a_store_by_what_it_already_holds(tmp_path: Path) -> None:
    store = local(tmp_path, capacity="10G", reserve="1G")
    assert store.total_space() == 10 * 10**9
    assert store.has_room_for(8 * 10**9, used=10**9)
    assert not store.has_room_for(8 * 10**9, used=2 * 10**9)  # 10 - 2 - 1 reserve = 7 G


def test_store_that_cannot_report_space_uses_capacity_and_usage(s3_store: Store) -> None:
    assert s3_store.free_space() is None
    assert s3_store.has_room_for(10**18)  # unknown is not "full": S3 has no fixed size

    capped = open_store(
        "capped", s3_store.settings.model_copy(update={"capacity": 1000, "reserve": Reserve(100)})
    )
    assert capped.free_space(used=600) == 400
    assert capped.usable_space(used=600) == 300
    assert capped.has_room_for(300, used=600)
    assert not capped.has_room_for(301, used=600)
    assert capped.usable_space(used=2000) == 0


def test_percentage_reserve_applies_to_capacity(s3_store: Store) -> None:
    capped = open_store(
        "capped",
        s3_store.settings.model_copy(update={"capacity": 1000, "reserve": Reserve(fraction=0.1)}),
    )
    assert capped.usable_space(used=0) == 900


def test_missing_local_root_is_an_error_not_the_system_disk(tmp_path: Path) -> None:
    store = local(tmp_path / "unmounted")
    with pytest.raises(StoreError, match="missing"):
        store.free_space()
