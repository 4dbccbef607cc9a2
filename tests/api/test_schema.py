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
