"""sec3: schemathesis against every service's in-process app as a signed-in insider, per operation and stateful.

Per operation, schemathesis generates valid requests for each documented operation; stateful, it chains them
along the links it infers between operations (an id one response returns is a path parameter of the next), so
requests reach real objects, not only 404s. The insider is the victim network's doctor of tests/support/security.py:
signed in through identity, on a subject's care team, author of posts, files and a group.

The services run in the session's event loop (their engines and broker connections live there), so hypothesis
runs in a worker thread and sends each request through the service's httpx client on that loop, as f6 does.
Bounded and deterministic: a few examples per operation, a fixed number of stateful scenarios, derandomized.

Two judgements per service: no request may get a 5xx (strict), and every response must conform to the service's
OpenAPI document (status documented, content type and body as documented).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.fuzzing import import_fuzzers_eagerly, retry_on_cpython_ast_defect
from tests.support.security import VictimWorld, build_victim_world
from tests.support.stack import SERVICES, Stack

import_fuzzers_eagerly()  # before any fuzzing thread starts (tests/support/fuzzing.py)

# schemathesis's own strategies draw from `random`; hypothesis deprecates that, nothing for us to act on.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)

EXAMPLES_PER_OPERATION = int(os.environ.get("YUI_SEC3_EXAMPLES", "5"))
STATEFUL_SCENARIOS = int(os.environ.get("YUI_SEC3_SCENARIOS", "15"))
STATEFUL_STEPS = 6
REQUEST_TIMEOUT_S = 30.0
SERVER_ERRORS = [not_a_server_error]
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Operations the fuzzer does not call, and why: each would end the insider's own session or change the whole
# deployment's keys under every other test of the session (their rules are tested in services/identity/tests).
NOT_FUZZED = {
    "POST /auth/logout": "ends the insider's session; the rest of the run would only see 401",
    "DELETE /sessions/{session_id}": "may end the insider's session",
    "POST /signing-keys/rotation": "a new deployment-wide key the in-process services' JWKS does not hold",
    "POST /signing-keys/{kid}/retirement": "retires the deployment's token keys",
    "GET /notifications/stream": "a live stream never ends, so one response cannot be judged",
}


def hypothesis_settings(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        # No shrinking: every failure is recorded as found, and the run stays bounded.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **extra,
    )


@dataclass
class Findings:
    """What the checks found, one line per distinct (operation, check, status), with one request that shows it."""

    found: dict[tuple[str, str, int], str] = field(default_factory=dict)
    sent: int = 0

    def record(self, label: str, response: Response, failure: BaseException) -> None:
        failures = failure.exceptions if isinstance(failure, FailureGroup) else [failure]
        for each in failures:
            title = getattr(each, "title", type(each).__name__)
            key = (label, str(title), response.status_code)
            if key not in self.found:
                request = response.request
                body = (
                    request.body.decode(errors="replace") if isinstance(request.body, bytes) else request.body
                )
                self.found[key] = (
                    f"{label}: {title} ({response.status_code}) for {request.method} {request.url} "
                    f"body={str(body)[:200]!r} -> {response.content[:300]!r}"
                )

    def report(self) -> str:
        return "\n".join(sorted(self.found.values()))


class InProcessSender:
    """Sends a schemathesis case through a service's in-process client, on the loop the services run in."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, auth: dict[str, str]):
        self.client, self.loop, self.auth = client, loop, auth

    def send(self, case: Any) -> Response:
        kwargs = case.as_transport_kwargs(base_url=str(self.client.base_url), headers=self.auth)
        kwargs.pop("auth", None)
        prepared = requests.Request(**kwargs).prepare()
        request = self.client.request(
            prepared.method or "GET",
            prepared.url or "/",
            content=prepared.body,
            headers={k: v for k, v in prepared.headers.items() if k.lower() != "content-length"},
        )
        response = asyncio.run_coroutine_threadsafe(request, self.loop).result(REQUEST_TIMEOUT_S)
        return Response.from_httpx(response, verify=True)


def judge(case: Any, response: Response, checks: list[Callable[..., Any]], findings: Findings) -> None:
    findings.sent += 1
    try:
        case.validate_response(response, checks=checks)
    except (AssertionError, FailureGroup) as failure:
        findings.record(case.operation.label, response, failure)


def fuzzed_operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.label not in NOT_FUZZED]


def fuzz_each_operation(
    schema: Any, sender: InProcessSender, checks: list[Callable[..., Any]], findings: Findings
) -> None:
    """Blocking (a worker thread): valid requests for each operation, each judged, none stopping the run."""
    for operation in fuzzed_operations(schema):

        @hypothesis_settings(EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def run(case: Any) -> None:
            judge(case, sender.send(case), checks, findings)

        retry_on_cpython_ast_defect(run)


def fuzz_stateful(
    schema: Any, sender: InProcessSender, checks: list[Callable[..., Any]], findings: Findings
) -> None:
    """Blocking (a worker thread): scenarios that follow the links schemathesis infers between operations."""
    base = schema.as_state_machine()

    class Scenarios(base):  # type: ignore[misc, valid-type]
        def call(self, case: Any, **kwargs: Any) -> Response:
            return sender.send(case)

        def validate_response(self, response: Response, case: Any, **kwargs: Any) -> None:
            judge(case, response, checks, findings)

    retry_on_cpython_ast_defect(
        lambda: Scenarios.run(
            settings=hypothesis_settings(STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS)
        )
    )


def service_schema(document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(document)
    # The operations that would end the fuzzing session or swap the deployment's keys are left out.
    return schema.exclude(func=lambda ctx: ctx.operation.label in NOT_FUZZED)


@pytest.fixture(scope="module")
async def world(stack: Stack) -> VictimWorld:
    return await build_victim_world(stack)


async def run_fuzzer(
    stack: Stack,
    world: VictimWorld,
    service: str,
    fuzzer: Callable[[Any, InProcessSender, list[Callable[..., Any]], Findings], None],
    checks: list[Callable[..., Any]],
) -> Findings:
    client = stack[service].client
    document = (await client.get("/openapi.json")).json()
    sender = InProcessSender(client, asyncio.get_running_loop(), world.people["doctor"].headers)
    findings = Findings()
    await asyncio.to_thread(fuzzer, service_schema(document), sender, checks, findings)
    # A fuzzer that sent nothing proved nothing.
    assert findings.sent > 0, service
    return findings


class TestGeneratedRequests:
    @pytest.mark.timeout(600)
    @pytest.mark.parametrize("service", SERVICES)
    async def test_sec3_no_generated_request_gets_a_server_error(
        self, stack: Stack, world: VictimWorld, service: str
    ) -> None:
        findings = await run_fuzzer(stack, world, service, fuzz_each_operation, SERVER_ERRORS)
        assert not findings.found, findings.report()

    @pytest.mark.timeout(600)
    @pytest.mark.parametrize("service", SERVICES)
    async def test_sec3_stateful_scenarios_never_get_a_server_error(
        self, stack: Stack, world: VictimWorld, service: str
    ) -> None:
        findings = await run_fuzzer(stack, world, service, fuzz_stateful, SERVER_ERRORS)
        assert not findings.found, findings.report()

    @pytest.mark.timeout(600)
    @pytest.mark.parametrize("service", SERVICES)
    async def test_sec3_every_response_conforms_to_the_openapi_document(
        self, stack: Stack, world: VictimWorld, service: str
    ) -> None:
        findings = await run_fuzzer(stack, world, service, fuzz_each_operation, CONFORMANCE)
        assert not findings.found, findings.report()
