"""schemathesis against the live server's OpenAPI: whatever it sends, the answer is never a 5xx.

Bounded: a few examples per operation, valid and invalid by the schema. (schemathesis' own pytest
plugin does not load under pytest 9 yet, so the operations are driven through hypothesis here.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from .conftest import start_live_server

EXAMPLES = 8


def test_no_server_errors(stylizer: Any) -> None:
    with start_live_server(stylizer, max_steps=50) as url:
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        seen: list[str] = []
        server_errors: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in schemathesis.GenerationMode:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
                def call(case: Any) -> None:
                    response = case.call()
                    if response.status_code >= 500:
                        server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                             f"{response.text[:200]}")

                try:
                    call()
                except Unsatisfiable:  # nothing invalid to send (an operation without parameters)
                    assert mode is schemathesis.GenerationMode.NEGATIVE
            seen.append(f"{operation.method.upper()} {operation.path}")
    assert {"POST /stylize", "POST /jobs", "GET /jobs/{job_id}/events", "DELETE /jobs/{job_id}"} <= set(seen)
    assert not server_errors, "\n".join(server_errors)
