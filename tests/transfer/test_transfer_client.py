"""The site client against a site that does not answer: it retries with growing pauses, then
says so in one sentence. And the transfer settings as an operator writes them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from transfer_sites import free_port

from sexton.config import Config, ConfigError, load_config
from sexton.config.models import SiteSettings
from sexton.tasks import registry
from sexton.transfer.messages import StageRequest
from sexton.transfer.sites import SiteClient, SiteUnreachable


def test_an_unreachable_site_is_retried_with_backoff_then_reported() -> None:
    settings = SiteSettings(
        url=f"http://127.0.0.1:{free_port()}",
        attempts=4,
        backoff=timedelta(seconds=0.5),
        max_backoff=timedelta(seconds=1.5),
    )
    pauses: list[float] = []
    client = SiteClient("destination", settings, sleep=pauses.append)
    with client, pytest.raises(SiteUnreachable, match="site destination at http://127.0.0.1"):
        client.stage(StageRequest(source="source", batch="b", files=[]))
    assert pauses == [0.5, 1.0, 1.5]


def load(tmp_path: Path, body: str) -> Config:
    path = tmp_path / "sexton.yaml"
    path.write_text(f"database: sqlite:///{tmp_path / 'db.sqlite'}\n{body}")
    return load_config(path, registry.task_class, environ={"SITE": "secret"})


def test_destination_librarian_names_the_destination_site(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "site: here\n"
        "api: {tokens: {site: ['${SITE}', other]}}\n"
        "sites: {destination: {url: 'http://127.0.0.1:1/', token: '${SITE}'}}\n"
        "tasks:\n  - {name: s, type: send_clone, destination_librarian: destination}\n",
    )
    assert config.task("s").params.site == "destination"
    assert config.settings.sites["destination"].url == "http://127.0.0.1:1"
    assert config.settings.api.tokens["site"] == ["secret", "other"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("tasks:\n  - {name: s, type: send_clone}\n", "give destination"),
        (
            "tasks:\n  - {name: s, type: send_clone, destination: a, destination_librarian: b}\n",
            "give destination",
        ),
        ("sites: {a: {url: 'ftp://x'}}\n", "a site URL starts with http://"),
        ("tasks:\n  - {name: r, type: receive_clone, deletion_policy: SOMETIMES}\n", "DISALLOWED"),
    ],
)
def test_bad_transfer_settings_are_named(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert expected in "\n".join(str(p) for p in caught.value.problems)
