"""Schemathesis against the published OpenAPI schema, with the admin token: generated
requests never cause a 5xx, and every response matches the schema. Bounded so it stays fast."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from served import ADMIN_TOKEN, Api

EXAMPLES = 8  # per operation: enough to hit edge cases of each parameter, still quick


def test_generated_requests_get_no_5xx_and_match_the_schema(api: Api) -> None:
    api.admin.post("/api/v1/tasks/hello/runs").raise_for_status()
    schema = schemathesis.openapi.from_url(f"{api.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.url, headers=headers)

        check()
        checked += 1
    assert checked >= 20


def test_the_schema_declares_the_bearer_scheme_on_every_guarded_operation(api: Api) -> None:
    schema = api.anonymous.get("/api/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from api.tokens",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            guarded = path != "/healthz"
            assert (operation.get("security") == [{"HTTPBearer": []}]) == guarded, (method, path)


def test_a_wrong_method_gets_405_naming_every_allowed_method(api: Api) -> None:
    runs = api.admin.put("/api/v1/tasks/hello/runs")  # POST and DELETE are two routes
    assert runs.status_code == 405 and runs.headers["allow"] == "DELETE, POST"
    assert runs.json()["detail"] == "Method Not Allowed"
    ping = api.admin.delete("/ping/export/start")
    assert ping.status_code == 405 and ping.headers["allow"] == "GET, POST"
    tasks = api.anonymous.post("/api/v1/tasks")  # before the token check: nothing to guard
    assert tasks.status_code == 405 and tasks.headers["allow"] == "GET"
    assert api.admin.head("/api/v1/tasks").headers["allow"] == "GET"
