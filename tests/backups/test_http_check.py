"""`http_check` against real loopback servers: answers 200, 500, slowly, and not at all."""

from __future__ import annotations

import re

import pytest
from backup_support import events, run_task


def check(real_instance, settings: str):
    instance = real_instance(f"tasks:\n  - {{name: site, type: http_check, {settings}}}\n")
    return instance, run_task(instance, "site")


def test_a_200_with_the_expected_text_succeeds_and_records_status_and_latency(
    real_instance, http_server
):
    instance, run = check(
        real_instance, f"url: '{http_server}/ok', expect_text: hello, expect_regex: '<h1>.*</h1>'"
    )
    assert run.state == "succeeded", run.error
    (seen,) = [e for e in events(instance, run) if e.startswith("http ")]
    assert re.fullmatch(rf"http url={http_server}/ok status=200 ms=[\d.]+ attempts=1 ok=True", seen)


def test_a_500_fails_the_run_with_the_status(real_instance, http_server):
    _instance, run = check(real_instance, f"url: '{http_server}/error'")
    assert run.state == "failed"
    assert run.error == f"{http_server}/error: status 500, expected 200"


def test_an_expected_500_and_missing_text(real_instance, http_server):
    _i, run = check(real_instance, f"url: '{http_server}/error', expect_status: [500, 503]")
    assert run.state == "succeeded", run.error
    _i, run = check(real_instance, f"url: '{http_server}/ok', expect_text: goodbye")
    assert run.state == "failed" and "does not contain 'goodbye'" in run.error


def test_a_slow_answer_fails_past_its_timeout_and_passes_within_it(real_instance, http_server):
    _i, run = check(real_instance, f"url: '{http_server}/slow', timeout: 0.2s")
    assert run.state == "failed" and "no answer within 0.2s" in run.error
    _i, run = check(real_instance, f"url: '{http_server}/slow', timeout: 5s")
    assert run.state == "succeeded", run.error


def test_a_server_that_never_answers_or_refuses_fails(real_instance, silent_port, closed_port):
    _i, run = check(real_instance, f"url: 'http://127.0.0.1:{silent_port}/', timeout: 0.2s")
    assert run.state == "failed" and "no answer within" in run.error
    _i, run = check(real_instance, f"url: 'http://127.0.0.1:{closed_port}/', timeout: 1s")
    assert run.state == "failed" and "ConnectError" in run.error


def test_retries_within_the_run_ride_out_a_flaky_service(real_instance, http_server):
    instance, run = check(
        real_instance, f"url: '{http_server}/flaky', attempts: 3, retry_delay: 0.01s"
    )
    assert run.state == "succeeded", run.error
    assert any("attempts=3 ok=True" in e for e in events(instance, run))


def test_several_urls_report_each_and_fail_on_any(real_instance, http_server):
    instance, run = check(
        real_instance, f"urls: ['{http_server}/ok', '{http_server}/error', '{http_server}/ok']"
    )
    assert run.state == "failed"
    assert run.error == f"{http_server}/error: status 500, expected 200"
    assert len([e for e in events(instance, run) if e.startswith("http ")]) == 3
    assert run.items == 3


def test_a_certificate_expiring_sooner_than_cert_days_fails(real_instance, tls_server):
    url, cert = tls_server
    _i, run = check(real_instance, f"url: '{url}/ok', ca_file: '{cert}', cert_days: 3")
    assert run.state == "succeeded", run.error
    _i, run = check(real_instance, f"url: '{url}/ok', ca_file: '{cert}', cert_days: 14")
    assert run.state == "failed"
    assert re.search(r"TLS certificate expires in [45]\.\d days \(cert_days: 14\)", run.error)


def test_a_password_in_the_url_is_not_recorded(real_instance, http_server):
    secret_url = http_server.replace("http://", "http://watcher:hunter2@") + "/ok"
    instance, run = check(real_instance, f"url: '{secret_url}'")
    assert run.state == "succeeded"
    assert not any("hunter2" in e for e in events(instance, run))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("method: GET", "either url or urls"),
        ("url: 'ftp://x/'", "not an http"),
        ("url: 'http://x/', expect_regex: '('", "bad regular expression"),
        ("url: 'http://x/', attempts: 0", "greater than or equal to 1"),
        ("url: 'http://x/', method: FETCH", "GET"),
    ],
)
def test_bad_http_check_config_is_a_clear_validation_error(write_config, settings, message):
    from sexton.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        write_config(f"tasks:\n  - {{name: site, type: http_check, {settings}}}\n")
    assert message in " ".join(str(p) for p in caught.value.problems)
