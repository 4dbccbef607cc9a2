"""Store configuration: validated up front, with errors that say what to fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sexton.sizes import Reserve
from sexton.stores import StoreError, StoreSettings, check_store_url, open_store
from sexton.stores.settings import OPTIONAL_BACKENDS


def test_unknown_protocol_is_named() -> None:
    error = check_store_url("foo://x")
    assert error is not None and "unknown store protocol 'foo'" in error


def test_misspelt_protocol_gets_a_suggestion() -> None:
    error = check_store_url("sfpt://host/data")
    assert error is not None and "did you mean 'sftp'" in error


@pytest.mark.parametrize(
    ("url", "extra"),
    [("s3://bucket/x", "sexton[s3]"), ("sftp://host/data", "sexton[sftp]")],
)
def test_missing_optional_dependency_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str, extra: str
) -> None:
    protocol = url.split(":")[0]
    _, install = OPTIONAL_BACKENDS[protocol]
    monkeypatch.setitem(OPTIONAL_BACKENDS, protocol, ("no_such_module_sexton", install))
    error = check_store_url(url)
    assert error is not None and f"pip install '{extra}'" in error


def test_hdfs_without_pyarrow_names_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPTIONAL_BACKENDS, "hdfs", ("no_such_module_sexton", "pip install pyarrow"))
    error = check_store_url("hdfs://namenode/archive")
    assert error is not None and "pyarrow" in error


@pytest.mark.parametrize("url", ["file:///data/store", "/data/store", "s3://bucket/prefix"])
def test_usable_urls_pass(url: str) -> None:
    assert check_store_url(url) is None


def test_url_without_a_path_is_refused() -> None:
    assert check_store_url("s3://") is not None


def test_settings_parse_sizes_and_reserves() -> None:
    settings = StoreSettings.model_validate(
        {"url": "file:///mnt/drive1", "reserve": "5%", "capacity": "2TiB"}
    )
    assert settings.reserve == Reserve(fraction=0.05)
    assert settings.capacity == 2 * 1024**4
    assert settings.enabled and not settings.read_only
    assert settings.model_dump(mode="json")["reserve"] == "5%"


def test_settings_refuse_unknown_keys_and_bad_urls() -> None:
    with pytest.raises(ValidationError, match="extra"):
        StoreSettings.model_validate({"url": "file:///x", "reserv": "5%"})
    with pytest.raises(ValidationError, match="unknown store protocol"):
        StoreSettings(url="foo://x")
    with pytest.raises(ValidationError, match="percentage"):
        StoreSettings(url="file:///x", reserve="150%")


def test_open_store_refuses_a_bad_url_built_without_validation() -> None:
    settings = StoreSettings.model_construct(url="foo://x", options={})
    with pytest.raises(StoreError, match="store broken: unknown store protocol"):
        open_store("broken", settings)
