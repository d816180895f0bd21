"""Schemathesis against the running gateway's ``/openapi.json``: whatever the schema allows, no answer is a 5xx.

Positive and negative cases of every operation, a bounded number each so the run stays short. The
gateway runs in this test's event loop; schemathesis (synchronous) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import itertools

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

#: Examples per operation and generation mode.
EXAMPLES = 15


def _run_schemathesis(base_url: str) -> list[str]:
    """Every operation x mode: returns the failures as text (an empty list when all answers were < 500)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, timeout=60)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

        try:
            check()
        except Unsatisfiable:
            # Negative mode of an operation without parameters or body: nothing to break.
            assert mode is GenerationMode.NEGATIVE
    assert calls > 0
    print(f"\nschemathesis: {calls} calls over {len(operations)} operations, positive and negative")
    return failures


async def test_no_generated_request_gets_a_5xx(hostile_gateway):
    failures = await asyncio.to_thread(_run_schemathesis, hostile_gateway.rest.url)
    assert failures == []
