"""Every route asks for the right token: none → 401, a wrong one → 403, read → reads only,
admin → everything; /healthz is open; tokens never leak into responses."""

from __future__ import annotations

import re

import httpx
import pytest
from served import ADMIN_TOKEN, READ_TOKEN, SITE_TOKEN, Api, client

PARAMS = {
    "name": "hello",
    "task": "export",
    "signal": "success",
    "run_id": "1",
    "action": "disable",
    "incoming_id": "1",
}
OPEN = {"/healthz"}


def routes(api: Api) -> list[tuple[str, str]]:
    schema = api.anonymous.get("/api/v1/openapi.json").json()
    found = []
    for path, operations in schema["paths"].items():
        for method in operations:
            found.append((method.upper(), re.sub(r"{(\w+)(:path)?}", lambda m: PARAMS[m[1]], path)))
    return found


# GETs that a read token may not make: a file's bytes go only to another site (or an admin).
SITE_READS = {"/api/v1/transfers/files/data"}


def needs_admin(method: str, path: str) -> bool:
    return method != "GET" or "/ping/" in path or path in SITE_READS


def call(who: httpx.Client, method: str, path: str) -> httpx.Response:
    body = {"tasks": []} if path.endswith("/claim") else None
    if path.endswith("/finish"):
        body = {"outcome": "succeeded"}
    return who.request(method, path, json=body)


def test_every_route_needs_a_token_and_admin_for_changes(api: Api) -> None:
    api.admin.post("/api/v1/tasks/hello/runs").raise_for_status()  # so run 1 exists
    wrong = client(api.url, "not-a-token")
    checked = routes(api)
    assert len(checked) >= 20
    for method, path in checked:
        if path in OPEN:
            continue
        anonymous = call(api.anonymous, method, path)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["content-type"].startswith("application/json")
        assert call(wrong, method, path).status_code == 403, (method, path)
        as_reader = call(api.reader, method, path).status_code
        if needs_admin(method, path):
            assert as_reader == 403, (method, path)
        else:
            assert as_reader not in (401, 403), (method, path)
        assert call(api.admin, method, path).status_code not in (401, 403), (method, path)
    wrong.close()


def test_healthz_needs_no_token(api: Api) -> None:
    response = api.anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_errors_are_json_and_never_echo_the_token(api: Api) -> None:
    response = client(api.url, ADMIN_TOKEN + "x").get("/api/v1/tasks")
    assert response.status_code == 403
    assert ADMIN_TOKEN not in response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("token", [READ_TOKEN, ADMIN_TOKEN])
def test_dashboard_login_keeps_the_token_in_an_httponly_cookie(api: Api, token: str) -> None:
    assert api.anonymous.get("/").status_code == 303
    login = api.anonymous.post("/login", data={"token": token, "next": "/"})
    assert login.status_code == 303
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = api.anonymous.get("/")
    assert page.status_code == 200 and "hello" in page.text
    trigger = api.anonymous.post("/tasks/hello/trigger")
    assert trigger.status_code == (303 if token == ADMIN_TOKEN else 403)


def test_dashboard_refuses_a_bad_token_and_open_redirects(api: Api) -> None:
    bad = api.anonymous.post("/login", data={"token": "nope", "next": "/"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    site = api.anonymous.post("/login", data={"token": SITE_TOKEN, "next": "/"})
    assert site.status_code == 401 and "set-cookie" not in site.headers
    assert "transfer calls" in site.text
    away = api.anonymous.post("/login", data={"token": READ_TOKEN, "next": "//evil.example/"})
    assert away.headers["location"] == "/"


def test_without_tokens_only_loopback_may_listen(serve_api) -> None:
    from sexton.api.server import ApiRefused

    with pytest.raises(ApiRefused, match="no api.tokens"):
        serve_api(api="api: {listen: '0.0.0.0:0'}\n")
    open_api = serve_api(api="api: {listen: '127.0.0.1:0'}\n")
    assert open_api.anonymous.post("/api/v1/tasks/hello/runs").status_code == 202
