"""f6: every API answers bad input with RFC 9457 problem+json (4xx, never 5xx) and writes nothing for it.

The fuzzing half loads each service's OpenAPI document and lets schemathesis generate valid and invalid
requests for every operation. The services run in the session's event loop (their engines and broker
connections live there), so hypothesis runs in a worker thread and each generated request is sent through
the service's in-process httpx client on that loop.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import text

from tests.support.fuzzing import import_fuzzers_eagerly, retry_on_cpython_ast_defect
from tests.support.stack import SERVICES, Stack, Staff, eventually

import_fuzzers_eagerly()  # before any fuzzing thread starts (tests/support/fuzzing.py)

# schemathesis's own strategies draw from `random`; hypothesis deprecates that, nothing for us to act on.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)

PROBLEM = "application/problem+json"
# Bounded for CI: 2 cores, the whole file in well under three minutes.
EXAMPLES_PER_OPERATION = int(os.environ.get("YUI_FUZZ_EXAMPLES", "20"))
REQUEST_TIMEOUT_S = 30.0
# Fixed, so every pytest-xdist worker collects the same test ids.
SOME_SUBJECT = UUID("0190a1b2-0000-7000-8000-000000000001")


def assert_problem(
    response: httpx.Response, status: int | None = None, problem_type: str | None = None
) -> dict:
    """The response is an RFC 9457 problem document that agrees with its own status line."""
    where = (
        f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:500]}"
    )
    if status is not None:
        assert response.status_code == status, where
    assert response.headers.get("content-type", "").startswith(PROBLEM), where
    body = response.json()
    assert isinstance(body.get("type"), str) and body["type"], where
    assert isinstance(body.get("title"), str) and body["title"], where
    assert body.get("status") == response.status_code, where
    if problem_type is not None:
        assert body["type"] == f"urn:yui:problem:{problem_type}", where
    return body


def documented_server_errors(operation: Any) -> set[int]:
    """5xx statuses an operation documents as part of its contract (only /readyz: a dependency is down)."""
    responses = operation.definition.raw.get("responses", {})
    return {int(code) for code in responses if str(code).isdigit() and int(code) >= 500}


def check_response(operation: Any, response: httpx.Response) -> None:
    where = (
        f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 500:
        # A documented 503 (readyz while another test stops the broker) is still a problem document.
        assert response.status_code in documented_server_errors(operation), f"server error for {where}"
        assert_problem(response)
    elif response.status_code >= 400:
        assert_problem(response)


async def known_subject(stack: Stack, staff: Staff) -> UUID:
    """A subject the fuzzing user is on the care team of, with consent, so generated calls reach the rules."""
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "検査 太郎", "name_kana": "ケンサ タロウ", "municipality_code": "232360"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given_ = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=staff.headers
    )
    assert given_.status_code == 201, given_.text

    # Reading needs only the care team; posting needs the consent too, which arrives by its own event.
    # Wait for the stricter of the two, so a test that posts never races the consent's projection.
    async def timeline_knows_consent() -> bool:
        posted = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts", json={"body": "準備"}, headers=staff.headers
        )
        return posted.status_code == 201

    await eventually(timeline_knows_consent, what="timeline to learn of the fuzzing subject's consent")
    return subject_id


def fuzz_operation(
    operation: Any,
    *,
    mode: GenerationMode,
    client: httpx.AsyncClient,
    loop: asyncio.AbstractEventLoop,
    auth: dict[str, str],
    subject_id: UUID,
    seen: list[int],
) -> None:
    """Blocking: runs hypothesis in this (worker) thread and each request on the services' event loop."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), aim_at_known_subject=st.booleans())
    def run(case: Any, aim_at_known_subject: bool) -> None:
        if mode.is_positive and aim_at_known_subject and "subject_id" in (case.path_parameters or {}):
            # Half the valid calls use a subject the caller may see, so the domain rules run, not only 404.
            case.path_parameters = {**case.path_parameters, "subject_id": str(subject_id)}
        kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=auth)
        kwargs.pop("auth", None)
        prepared = requests.Request(**kwargs).prepare()
        request = client.request(
            prepared.method or "GET",
            prepared.url or "/",
            content=prepared.body,
            headers={k: v for k, v in prepared.headers.items() if k.lower() != "content-length"},
        )
        response = asyncio.run_coroutine_threadsafe(request, loop).result(REQUEST_TIMEOUT_S)
        seen.append(response.status_code)
        check_response(operation, response)

    retry_on_cpython_ast_defect(run)


def _is_event_stream(document: dict, path: str, method: str) -> bool:
    responses = document["paths"][path][method.lower()].get("responses", {})
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


class TestEveryOperationAnswersWithProblemDetails:
    @pytest.mark.timeout(900)
    @pytest.mark.parametrize("service", SERVICES)
    async def test_f6_generated_requests_never_get_5xx_and_every_4xx_is_problem_json(
        self, stack: Stack, service: str
    ) -> None:
        fuzzer = stack.staff()
        subject_id = await known_subject(stack, fuzzer)
        client = stack[service].client
        document = (await client.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        loop = asyncio.get_running_loop()
        statuses: dict[str, list[int]] = {}
        unsatisfiable: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if _is_event_stream(document, operation.path, operation.method):
                # A live stream never ends, so a request cannot be judged by its response here; its
                # authorization and errors are tested with the service (services/notify/tests/test_live.py).
                continue
            takes_input = bool(list(operation.iter_parameters())) or bool(list(operation.body))
            # Invalid input exists only for operations that take some.
            modes = (
                (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if takes_input
                else (GenerationMode.POSITIVE,)
            )
            for mode in modes:
                seen: list[int] = []
                try:
                    await asyncio.to_thread(
                        fuzz_operation,
                        operation,
                        mode=mode,
                        client=client,
                        loop=loop,
                        auth=fuzzer.headers,
                        subject_id=subject_id,
                        seen=seen,
                    )
                except hypothesis.errors.Unsatisfiable:
                    # Every input the schema allows is valid (free-text optional parameters only): there is
                    # no invalid request to generate. Only the negative mode may find itself here.
                    if mode is not GenerationMode.NEGATIVE:
                        raise
                    unsatisfiable.append(operation.label)
                    continue
                statuses[f"{operation.label} {mode.value}"] = seen
        # The fuzzer must actually have exercised every operation (a test that sends nothing proves nothing).
        assert statuses and all(statuses[k] for k in statuses if k.endswith("positive")), statuses


class TestExplicitBadRequests:
    async def test_malformed_json_body_is_a_422_problem(self, stack: Stack) -> None:
        response = await stack["consent"].client.post(
            "/subjects",
            content='{"name": "結", "name_kana":'.encode(),
            headers={**stack.staff().headers, "Content-Type": "application/json"},
        )
        body = assert_problem(response, 422, "validation-error")
        assert body["errors"][0]["kind"] == "json_invalid"

    async def test_wrong_content_type_is_a_4xx_problem(self, stack: Stack) -> None:
        response = await stack["consent"].client.post(
            "/subjects",
            content=b'{"name": "a", "name_kana": "a", "municipality_code": "232360"}',
            headers={**stack.staff().headers, "Content-Type": "text/plain"},
        )
        assert_problem(response, 422, "validation-error")

    @pytest.mark.parametrize("service", SERVICES)
    async def test_unknown_route_is_a_404_problem(self, stack: Stack, service: str) -> None:
        response = await stack[service].client.get("/no/such/route", headers=stack.staff().headers)
        assert_problem(response, 404, "not-found")

    async def test_wrong_method_is_a_405_problem(self, stack: Stack) -> None:
        response = await stack["consent"].client.delete("/subjects", headers=stack.staff().headers)
        assert_problem(response, 405, "method-not-allowed")

    @pytest.mark.parametrize(
        ("service", "path"),
        [
            ("consent", "/subjects/not-a-uuid"),
            ("consent", "/subjects/123/withdrawals"),
            ("timeline", "/subjects/not-a-uuid/posts"),
        ],
    )
    async def test_invalid_uuid_in_path_is_a_422_problem_naming_the_parameter(
        self, stack: Stack, service: str, path: str
    ) -> None:
        response = await stack[service].client.get(path, headers=stack.staff().headers)
        body = assert_problem(response, 422, "validation-error")
        assert ["path", "subject_id"] in [e["location"] for e in body["errors"]]

    async def test_invalid_uuid_in_notification_path_is_a_422_problem(self, stack: Stack) -> None:
        response = await stack["notify"].client.post("/notifications/xyz/read", headers=stack.staff().headers)
        assert_problem(response, 422, "validation-error")

    @pytest.mark.parametrize(
        ("service", "method", "path"),
        [
            ("consent", "GET", f"/subjects/{SOME_SUBJECT}"),
            ("consent", "POST", "/subjects"),
            ("consent", "GET", "/cascades/incomplete"),
            ("timeline", "GET", f"/subjects/{SOME_SUBJECT}/posts"),
            ("notify", "GET", "/notifications"),
            ("identity", "GET", "/me"),
        ],
    )
    async def test_missing_token_is_a_401_problem_with_bearer_challenge(
        self, stack: Stack, service: str, method: str, path: str
    ) -> None:
        response = await stack[service].client.request(method, path, json={} if method == "POST" else None)
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_expired_token_is_a_401_problem(self, stack: Stack) -> None:
        from identity import tokens

        expired = tokens.sign_access_token(
            stack.signing_key,
            issuer="yui-identity",
            audience="yui",
            user_id=uuid4(),
            tenant="demo",
            facility_id=uuid4(),
            roles=["staff"],
            name="x",
            ttl_s=-60,
        )
        response = await stack["notify"].client.get(
            "/notifications", headers={"Authorization": f"Bearer {expired}"}
        )
        body = assert_problem(response, 401, "unauthenticated")
        assert "expired" in body["detail"]

    async def test_token_signed_by_another_key_is_a_401_problem(self, stack: Stack) -> None:
        """A forger who knows the key id but not the key: the signature does not verify."""
        from identity import tokens

        forger_key = tokens.new_signing_key()
        forger_key.kid = stack.signing_key.kid
        forged = tokens.sign_access_token(
            forger_key,
            issuer="yui-identity",
            audience="yui",
            user_id=uuid4(),
            tenant="demo",
            facility_id=uuid4(),
            roles=["operator"],
            name="x",
            ttl_s=600,
        )
        response = await stack["consent"].client.get(
            "/cascades/incomplete", headers={"Authorization": f"Bearer {forged}"}
        )
        assert_problem(response, 401, "unauthenticated")

    async def test_tampered_claims_are_a_401_problem(self, stack: Stack) -> None:
        import base64
        import json

        header, payload, signature = stack.staff().token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["roles"] = ["operator"]
        forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        response = await stack["consent"].client.get(
            "/cascades/incomplete", headers={"Authorization": f"Bearer {header}.{forged_payload}.{signature}"}
        )
        assert_problem(response, 401, "unauthenticated")

    async def test_unsigned_token_is_a_401_problem(self, stack: Stack) -> None:
        import jwt

        unsigned = jwt.encode(
            {
                "sub": str(uuid4()),
                "tenant": "demo",
                "iss": "yui-identity",
                "aud": "yui",
                "iat": 0,
                "exp": 2**31,
            },
            key=None,
            algorithm="none",
            headers={"kid": stack.signing_key.kid},
        )
        response = await stack["notify"].client.get(
            "/notifications", headers={"Authorization": f"Bearer {unsigned}"}
        )
        assert_problem(response, 401, "unauthenticated")

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer"])
    async def test_malformed_token_is_a_401_problem(self, stack: Stack, token: str) -> None:
        response = await stack["timeline"].client.get(
            f"/subjects/{uuid4()}/posts", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401, "unauthenticated")


async def consent_side_effects(stack: Stack) -> tuple[int, int, int, int]:
    """Rows a consent request could leave behind: audit entries, outbox rows, consents, withdrawals."""
    async with stack["consent"].sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM outbox), "
                    "(SELECT count(*) FROM consents), (SELECT count(*) FROM withdrawals)"
                )
            )
        ).one()
    return tuple(int(v) for v in row)  # type: ignore[return-value]


class TestRejectedRequestsWriteNothing:
    async def test_f6_rejected_consent_and_withdrawal_leave_no_audit_entry_or_outbox_row(
        self, stack: Stack
    ) -> None:
        staff = stack.staff()
        consent = stack["consent"].client
        created = await consent.post(
            "/subjects",
            json={"name": "結 二郎", "name_kana": "ユイ ジロウ", "municipality_code": "232360"},
            headers=staff.headers,
        )
        subject_id = created.json()["id"]

        before = await consent_side_effects(stack)
        no_consent_yet = await consent.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=staff.headers
        )
        assert_problem(no_consent_yet, 409, "no-active-consent")
        proxy_without_name = await consent.post(
            f"/subjects/{subject_id}/consents",
            json={"given_by": "proxy", "given_on": str(date.today())},
            headers=staff.headers,
        )
        assert_problem(proxy_without_name, 422, "proxy-required")
        assert await consent_side_effects(stack) == before

        first = await consent.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=staff.headers
        )
        assert first.status_code == 201, first.text
        after_first = await consent_side_effects(stack)
        assert after_first != before  # the accepted request did write: the comparison can fail

        second = await consent.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=staff.headers
        )
        assert_problem(second, 409, "consent-already-active")
        assert await consent_side_effects(stack) == after_first


class TestTextTheDatabaseCannotStore:
    """PostgreSQL text cannot hold U+0000; such input is the caller's error (4xx), never a 500."""

    async def test_nul_character_in_subject_name_is_a_4xx_problem(self, stack: Stack) -> None:
        response = await stack["consent"].client.post(
            "/subjects",
            json={"name": "結\x00", "name_kana": "ユイ", "municipality_code": "232360"},
            headers=stack.staff().headers,
        )
        assert_problem(response, 422)

    async def test_nul_character_in_login_is_a_4xx_problem(self, stack: Stack) -> None:
        response = await stack["identity"].client.post(
            "/auth/token", json={"tenant": "demo", "login_id": "doctor\x00", "password": "x"}
        )
        assert 400 <= response.status_code < 500
        assert_problem(response)

    async def test_nul_character_in_post_body_is_a_4xx_problem(self, stack: Stack) -> None:
        staff = stack.staff()
        subject_id = await known_subject(stack, staff)
        response = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts", json={"body": "a\x00b"}, headers=staff.headers
        )
        assert_problem(response, 422)
