"""sec1: every route of the five services' OpenAPI documents × six principals who must not reach a victim's data.

The routes come from the services' own OpenAPI documents (collected from each app, and checked against what each
running app serves at /openapi.json), so a new route joins the matrix without a test being written. Path
parameters are filled with ids of real objects of a victim network (tests/support/security.py) and request
bodies are the smallest valid instance of the route's schema, with fields naming a victim's object set to it.

Each (route, principal) is one case: `test_sec1_route_refuses_principal[identity GET /users/{user_id}-outsider_staff]`.
A case passes when the answer is never a 5xx, never a victim's data, and:
- for a revoked session, a suspended user or no token: 401 (the token is refused before anything else);
- for a route aimed at a victim's object (a path parameter or a body field naming it): 403 or 404, never 401
  (the prober's token is valid, so a 401 would prove nothing);
- for a route about the caller's own things (their notifications, their network's settings): any 2xx or 4xx,
  as long as nothing of the victim's is in it (a 401 only where the route checks a credential in the body too,
  CREDENTIAL_ROUTES, and then only the wrong-credential problem, never the refused-token one);
and every 404 body is the one body every unreachable object gets (identical except `instance`, the path asked).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from hypothesis import find
from hypothesis import strategies as st

from tests.support.security import PDF, SEARCH_WORD, VictimWorld, build_victim_world
from tests.support.stack import SERVICES, Stack, settings_for

PRINCIPALS = (
    "outsider_staff",
    "other_facility_admin",
    "other_network_operator",
    "revoked_session",
    "suspended_user",
    "no_token",
)
# Principals whose token identity no longer honours (or who have none): refused before any rule is asked.
REFUSED_TOKENS = {"revoked_session", "suspended_user", "no_token"}
# Principals of another network: they may not even learn who works in the victim's network.
OTHER_NETWORK = {"other_network_operator"}

# Routes anyone may call without a token, and why. They still may not answer 5xx or show a victim's data.
PUBLIC_ROUTES = {
    ("*", "GET /healthz"): "liveness probe of the orchestrator; says nothing but 'ok'",
    ("*", "GET /readyz"): "readiness probe of the orchestrator; names dependencies, not data",
    ("*", "GET /metrics"): "Prometheus scrape; kept off the gateway (issue 14 finding 8), never subject data",
    ("identity", "GET /.well-known/jwks.json"): "public keys: every service and client must verify tokens",
    ("identity", "POST /auth/token"): "login: the password and second factor are the credentials",
    ("identity", "POST /auth/refresh"): "the refresh token in the body is the credential",
    ("identity", "POST /auth/totp-enrolment"): "first sign-in: the password is the credential",
    (
        "identity",
        "POST /auth/password",
    ): "password change before sign-in: the current password is the credential",
    ("identity", "POST /certificates/redeem"): "a terminal redeems its access code and PIN, its credentials",
    ("identity", "GET /ca.pem"): "the CA certificate clients and the gateway trust: public by nature",
    ("identity", "GET /crl.pem"): "the revocation list: relying parties must fetch it without credentials",
    ("identity", "POST /facility-applications"): "a facility applies to join before it has any account",
    ("identity", "GET /directory"): "the public facility directory (P1): what each facility chose to publish",
    ("portal", "GET /api/notices"): "the public site's notices; members' notices need a token",
    ("portal", "GET /api/terms"): "the terms of use are public before anyone agrees to them",
    ("portal", "GET /api/maintenance"): "the public site tells everyone when the service is down",
    ("timeline", "GET /signing-key"): "the public key that verifies exported posts' signatures (integrity)",
    (
        "federation",
        "GET /.well-known/yui-federation",
    ): "the keys peers verify our messages with, and our networks",
    (
        "federation",
        "PUT /federation/v1/transactions/{transaction_id}",
    ): "a peer's message: its signature, checked against the peer's published keys, is the credential",
    ("federation", "GET /federation/v1/feed"): "a peer's pull: the signed request is the credential",
    (
        "federation",
        "GET /peer-cas.pem",
    ): "the CA certificates the gateway's peer port trusts: public by nature",
    (
        "federation",
        "GET /federation/v1/directory",
    ): "a peer's signed request (as the feed's) is the credential",
    (
        "federation",
        "GET /federation/v1/referrals/{referral_id}/timeline",
    ): "a peer user's read: the peer's signed assertion naming the user is the credential, checked at every call",
    (
        "federation",
        "POST /federation/v1/referrals/{referral_id}/posts",
    ): "a peer user's post: the peer's signed assertion (binding the body) is the credential",
    (
        "timeline",
        "GET /federated/subjects/{subject_id}/posts",
    ): "internal (the gateway routes no /federated/): federation's grant, signed with its published key, is the "
    "credential; no staff token is involved",
    (
        "timeline",
        "POST /federated/subjects/{subject_id}/posts",
    ): "internal: federation's grant for one peer user's post is the credential",
}
# Routes left out of the matrix, and why (each is covered elsewhere).
NOT_PROBED = {
    ("notify", "GET /notifications/stream"): (
        "a live stream never ends, so one response cannot be judged; its refusals are tested in "
        "services/notify/tests/test_live.py"
    ),
}
# Requests not sent for some principals, and why: the current rules allow them and they would change the
# whole deployment (every other test of the session would break), or end the prober's own session (every
# later case would be a 401 that proves nothing).
NOT_SENT_FOR = {
    ("identity", "POST /auth/logout"): (
        {"outsider_staff", "other_facility_admin", "other_network_operator"},
        "ends the caller's own session, which is theirs to end; the refused tokens are still probed",
    ),
}
# Body fields that name an object the caller asks about without being shown anything of it, and why.
BLIND_REFERENCES = {
    ("consent", "POST /exceptional-access", "subject_id"): (
        "C5: anyone may ask the operator for emergency access to a subject; the answer is the same whether or "
        "not the subject exists, and the operator decides"
    ),
    ("timeline", "POST /operator/erasures", "subject_id"): (
        "an erasure runs inside the operator's own network: another network's subject matches nothing and the "
        "answer (nothing removed) is the one an unknown id gets"
    ),
    (
        "timeline",
        "POST /operator/erasures",
        "group_id",
    ): "as subject_id: scoped to the operator's own network",
}
# Routes that change the whole deployment, and why: only the contractor (not among the probers) may call them,
# so every principal here is aimed at the victim by calling them and must get 403 or 404.
DEPLOYMENT_ROUTES = {
    ("identity", "POST /signing-keys/rotation"): "the keys sign every network's tokens (issue 14, finding 1)",
    ("identity", "POST /signing-keys/{kid}/retirement"): "as the rotation: the deployment's token keys",
    ("federation", "GET /keys"): "the deployment's federation keys, which sign for every network (issue 12)",
    ("federation", "POST /keys/rotation"): "as the listing: the deployment's federation keys",
}
# Path parameters that name a thing of the whole network, not of one facility or subject: members of the
# victim's network reach them by right, only another network must be refused.
NETWORK_PARAMETERS = {
    "version": "the network's terms of use: every member reads and accepts them",
    "step": "an incident report's next step, not an object",
    "kid": "the deployment's signing key id, public in the JWKS",
}
# Routes whose path parameters name a thing of the whole network, and why: as NETWORK_PARAMETERS, for one route
# whose parameter name elsewhere names a thing that is not the network's (a user_id of /users/{user_id} is).
NETWORK_ROUTES = {
    ("identity", "GET /people/{user_id}"): (
        "the staff directory (issue 10): any staff of the network may read who a colleague is (to invite, "
        "mention, read who wrote what); another network gets the one 404"
    ),
}
# Routes about the caller's own account that also check a credential in the body, and why: a wrong one is
# answered 401 login-failed (counted like a failed sign-in), told apart from a refused token by its type.
CREDENTIAL_ROUTES = {
    ("identity", "POST /me/password"): "one's own password change: the current password is asked again",
    (
        "identity",
        "POST /me/totp-enrolment",
    ): "a new authenticator for oneself: the current password is asked again",
}
WRONG_CREDENTIAL = "urn:yui:problem:login-failed"
REFUSED_TOKEN = "urn:yui:problem:unauthenticated"


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    operation: dict[str, Any] = field(compare=False, hash=False, repr=False)
    components: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def id(self) -> str:
        return f"{self.service} {self.label}"

    def listed_in(self, table: dict[Any, Any]) -> Any:
        return table.get((self.service, self.label)) or table.get(("*", self.label))


@cache
def openapi_document(service: str) -> dict[str, Any]:
    """The document the app serves at /openapi.json, built without starting it (collection runs before
    the stack exists); test_sec1_the_matrix_covers_every_route_each_running_service_serves compares both."""
    app = importlib.import_module(f"{service}.main").create_app(settings_for(service))
    document: dict[str, Any] = app.openapi()
    return document


def documented_routes() -> list[Route]:
    routes = []
    for service in SERVICES:
        document = openapi_document(service)
        components = document.get("components", {}).get("schemas", {})
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                routes.append(Route(service, method.upper(), path, operation, components))
    return routes


ROUTES = [r for r in documented_routes() if not r.listed_in(NOT_PROBED)]
CASES = [
    pytest.param(route, principal, id=f"{route.id}-{principal}")
    for route in ROUTES
    for principal in PRINCIPALS
    if principal not in (route.listed_in(NOT_SENT_FOR) or (set(), ""))[0]
]


# ---------------------------------------------------------------- filling a request from the schema


def path_binding(world: VictimWorld, route: Route, name: str) -> str | None:
    """The victim's object a path parameter names."""
    ids = world.ids
    if name == "facility_id":
        # An application's decision is asked about a facility that applied; everything else, the clinic.
        return str(
            world.applicant_facility_id
            if route.path.startswith("/facility-applications")
            else world.facility_id
        )
    if name == "user_id":
        return str(world.people["nurse"].id)
    by_name = {
        "subject_id": ids["subject"],
        "consent_id": ids["consent"],
        "invitation_id": ids["invitation"],
        "grant_id": ids["grant"],
        "attachment_id": ids["attachment"],
        "post_id": ids["post"],
        "medication_id": ids["medication"],
        "import_id": ids["letter"],
        "index": "0",
        "group_id": ids["group"],
        "report_id": ids["report"],
        "certificate_id": ids["certificate"],
        "notice_id": ids["notice"],
        "notification_id": ids["notification"],
        "suspension_id": ids["suspension"],
        "session_id": ids["session"],
        "version": ids["terms_version"],
        "kid": ids["kid"],
        "agreement_id": ids["agreement"],
        # Public (PUBLIC_ROUTES): any id; the message's signature decides.
        "transaction_id": ids["agreement"],
        # The matrix's networks refer no subject (services/federation/tests cover referrals across networks):
        # an id that is no referral of anyone's, so every principal must get the one 404.
        "referral_id": ids["agreement"],
    }
    return by_name.get(name)


def field_binding(world: VictimWorld, name: str) -> str | None:
    """The victim's object a body or query field of this name would name."""
    return {
        "subject_id": world.ids["subject"],
        "user_id": str(world.people["nurse"].id),
        "target_id": str(world.people["nurse"].id),
        "facility_id": str(world.facility_id),
        "group_id": world.ids["group"],
    }.get(name)


def plain_values(world: VictimWorld) -> dict[str, Any]:
    """Values for fields whose schema alone does not make a request the service would act on."""
    return {
        "tenant": world.tenant,
        "login_id": "sec1-nobody",  # never a real login: five wrong passwords would lock a real account
        "password": "not-the-password",
        "current_password": "not-the-password",
        "new_password": "Another-2026!password",
        "municipality_code": "232360",
        "administrator_email": "probe@example.jp",
        "email": "probe@example.jp",
        "administrator_login_id": "sec1-applicant",
        "new_login_id": "sec1-replacement",
        "kind": "clinic",
        "pledge_accepted": True,
        "q": SEARCH_WORD,
        "filename": "probe.pdf",
        "version": "sec1-probe",
        "refresh_token": "sec1-not-a-refresh-token",
    }


@cache
def smallest_match(pattern: str) -> str:
    """The simplest string a pattern accepts (hypothesis shrinks to it, deterministically)."""
    return str(find(st.from_regex(pattern, fullmatch=True), lambda _: True))


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def instance_of(
    schema: dict[str, Any],
    components: dict[str, Any],
    world: VictimWorld,
    name: str | None,
    bound: set[str],
) -> Any:
    """The smallest valid value of ``schema``; a field named after a victim's object gets its id."""
    schema = resolve(schema, components)
    if name is not None and (victim := field_binding(world, name)) is not None:
        bound.add(name)
        return [victim] if schema.get("type") == "array" else victim
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            choices = [resolve(s, components) for s in schema[combinator]]
            chosen = next((s for s in choices if s.get("type") != "null"), choices[0])
            return instance_of(chosen, components, world, name, bound)
    plain = plain_values(world)
    if name in plain:
        return plain[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        value = {}
        for prop, sub in schema.get("properties", {}).items():
            if prop in required or field_binding(world, prop) is not None:
                value[prop] = instance_of(sub, components, world, prop, bound)
        return value
    if kind == "array":
        items = schema.get("items", {})
        return [instance_of(items, components, world, None, bound)] * int(schema.get("minItems", 0))
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 1), schema.get("maximum", 1)
        return int(min(max(1, low), high))
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return str(date.today())
        if fmt == "date-time":
            return (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        if fmt == "uuid":
            return "0190a1b2-0000-7000-8000-00000000dead"
        if "pattern" in schema:
            return smallest_match(schema["pattern"])
        text = "sec1 probe"
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 200))
        return (text * (1 + low // len(text)))[: max(low, min(len(text), high))]
    return None


@dataclass
class Probe:
    method: str
    url: str
    params: dict[str, Any]
    kwargs: dict[str, Any]
    aims_at_victim: bool
    sent: str  # everything the probe itself carried, so an echo of it is not taken for a leak


def probe_for(route: Route, principal: str, world: VictimWorld) -> Probe:
    path, params, aims = route.path, {}, route.listed_in(DEPLOYMENT_ROUTES) is not None
    bound: set[str] = set()
    for parameter in route.operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            schema = parameter.get("schema", {})
            value = schema["enum"][0] if "enum" in schema else path_binding(world, route, name)
            assert value is not None, f"{route.id}: no victim object for path parameter {name!r}"
            path = path.replace("{" + name + "}", value)
            network_wide = name in NETWORK_PARAMETERS or route.listed_in(NETWORK_ROUTES) is not None
            if not network_wide or principal in OTHER_NETWORK:
                aims = True
        elif where == "query" and (parameter.get("required") or field_binding(world, name) is not None):
            params[name] = instance_of(parameter.get("schema", {}), route.components, world, name, set())
    kwargs: dict[str, Any] = {}
    content = (route.operation.get("requestBody") or {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = instance_of(
            content["application/json"]["schema"], route.components, world, None, bound
        )
    elif "application/octet-stream" in content:
        kwargs["content"] = PDF
    elif "text/csv" in content:
        kwargs["content"] = "login_id,display_name\nsec1-imported,取込 職員\n".encode()
        kwargs["headers"] = {"Content-Type": "text/csv"}
    elif "multipart/form-data" in content:
        schema = resolve(content["multipart/form-data"]["schema"], route.components)
        kwargs["files"] = {name: ("form.pdf", PDF, "application/pdf") for name in schema.get("required", [])}
    elif content:
        raise AssertionError(f"{route.id}: the matrix cannot fill a {sorted(content)} body; teach it")
    blind = {f for f in bound if (route.service, route.label, f) in BLIND_REFERENCES}
    aims = aims or bool(bound - blind)
    sent = path + json.dumps(params, ensure_ascii=False) + json.dumps(kwargs.get("json"), ensure_ascii=False)
    return Probe(route.method, path, params, kwargs, aims, sent)


# ---------------------------------------------------------------- judging the answer


def without_instance(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "instance"}


def blindly_named(world: VictimWorld) -> set[str]:
    """Ids a prober may name without seeing anything (BLIND_REFERENCES): their own requests list them back."""
    return {v for (_, _, name) in BLIND_REFERENCES if (v := field_binding(world, name)) is not None}


def leaked(response: httpx.Response, probe: Probe, principal: str, world: VictimWorld) -> list[str]:
    """The victim's texts and ids in the answer that the probe did not itself send."""
    text = response.text
    secrets = [*world.private_texts, *(i for i in world.private_ids if i not in blindly_named(world))]
    if principal in OTHER_NETWORK:
        secrets += [*world.network_texts, *world.network_ids]
    return [s for s in secrets if s in text and s not in probe.sent]


@pytest.fixture(scope="module")
async def world(stack: Stack) -> VictimWorld:
    return await build_victim_world(stack)


@pytest.fixture(scope="module")
async def the_one_404(stack: Stack, world: VictimWorld) -> dict[str, Any]:
    """The body every unreachable object gets: here, a subject id that was never issued."""
    response = await stack["consent"].client.get(
        "/subjects/0190a1b2-0000-7000-8000-00000000beef", headers=world.principals["outsider_staff"]
    )
    assert response.status_code == 404, response.text
    return without_instance(response.json())


class TestAccessMatrix:
    async def test_sec1_the_matrix_covers_every_route_each_running_service_serves(self, stack: Stack) -> None:
        for service in SERVICES:
            served = (await stack[service].client.get("/openapi.json")).json()
            operations = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
            collected = {(r.method, r.path) for r in documented_routes() if r.service == service}
            assert operations == collected, service
            for method, path in operations:
                probed = any(r.service == service and (r.method, r.path) == (method, path) for r in ROUTES)
                assert probed or (service, f"{method} {path}") in NOT_PROBED, (service, method, path)

    async def test_sec1_the_victims_objects_are_reachable_by_the_victims_own_staff(
        self, stack: Stack, world: VictimWorld
    ) -> None:
        """The control: the ids the matrix uses are real, so a refusal in it is a refusal, not a typo."""
        doctor = world.people["doctor"].headers
        reads = {
            "consent": [f"/subjects/{world.ids['subject']}", f"/subjects/{world.ids['subject']}/care-team"],
            "timeline": [
                f"/posts/{world.ids['post']}",
                f"/attachments/{world.ids['attachment']}",
                f"/groups/{world.ids['group']}",
            ],
            "identity": [f"/incident-reports/{world.ids['report']}"],
        }
        for service, paths in reads.items():
            for path in paths:
                response = await stack[service].client.get(path, headers=doctor)
                assert response.status_code == 200, (service, path, response.text)
        nurse = world.people["nurse"].headers
        listed = await stack["notify"].client.get("/notifications", headers=nurse)
        assert world.ids["notification"] in listed.text

    @pytest.mark.parametrize(("route", "principal"), CASES)
    async def test_sec1_route_refuses_principal(
        self,
        stack: Stack,
        world: VictimWorld,
        the_one_404: dict[str, Any],
        route: Route,
        principal: str,
    ) -> None:
        probe = probe_for(route, principal, world)
        headers = {**world.principals[principal], **probe.kwargs.pop("headers", {})}
        response = await stack[route.service].client.request(
            probe.method, probe.url, params=probe.params, headers=headers, **probe.kwargs
        )
        where = f"{route.id} as {principal} -> {response.status_code}: {response.text[:400]}"
        assert response.status_code < 500, where
        assert not leaked(response, probe, principal, world), f"victim's data in the answer: {where}"
        public = route.listed_in(PUBLIC_ROUTES) is not None
        credential = route.listed_in(CREDENTIAL_ROUTES) is not None
        problem_type = response.json().get("type") if response.status_code == 401 else None
        if not public and principal in REFUSED_TOKENS:
            assert response.status_code == 401, where
            if credential:  # the token is refused before the body's credential is tried (and counted)
                assert problem_type == REFUSED_TOKEN, where
        elif not public:
            # A valid token refused as unauthenticated proves nothing about the rule this case is about; a
            # route's own wrong-credential answer (CREDENTIAL_ROUTES: the probe sends a wrong password) is not that.
            wrong_credential = credential and problem_type == WRONG_CREDENTIAL
            assert response.status_code != 401 or wrong_credential, (
                f"the prober's own token was refused: {where}"
            )
            if probe.aims_at_victim:
                assert response.status_code in (403, 404), where
        if response.status_code == 404:
            body = response.json()
            assert body.get("instance") in (None, probe.url), where
            assert without_instance(body) == the_one_404, f"a 404 that differs from the one 404: {where}"


def test_sec1_every_documented_path_parameter_names_a_victim_object() -> None:
    """A new route with a parameter the matrix cannot fill fails here, at once, not as 404s that prove nothing."""
    known = {
        "facility_id", "user_id", "subject_id", "consent_id", "invitation_id", "grant_id", "attachment_id",
        "post_id", "group_id", "report_id", "certificate_id", "notice_id", "notification_id", "suspension_id",
        "session_id", "version", "kid", "step", "medication_id", "import_id", "index", "agreement_id",
        "transaction_id", "referral_id",
    }  # fmt: skip
    for route in ROUTES:
        for parameter in route.operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["name"] in known or "enum" in json.dumps(parameter.get("schema")), route.id
