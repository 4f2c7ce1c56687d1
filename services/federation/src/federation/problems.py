"""The problem+json answers of the federation service (RFC 9457 via yui_common.problems), one slug each."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from yui_common.problems import Problem, problem_response


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


# What a peer's message can be refused for. Each refusal is audited with the message's signature; none applies
# anything. Those a peer could fix by retrying (a key not yet fetched) are 401; those the agreement forbids 403.
def malformed(detail: str) -> Problem:
    return Problem(400, "federation-malformed-message", "Malformed federation message", detail)


def id_mismatch() -> Problem:
    return Problem(
        400,
        "federation-id-mismatch",
        "Transaction id mismatch",
        "The id in the path is not the message's id.",
    )


def signature_missing() -> Problem:
    return Problem(
        401,
        "federation-signature-missing",
        "Signature missing",
        "The message carries no Yui-Signature header.",
    )


def signature_invalid() -> Problem:
    return Problem(
        401,
        "federation-signature-invalid",
        "Signature invalid",
        "The signature does not verify over the message with the sender's key.",
    )


def unknown_key(kid: str) -> Problem:
    return Problem(
        401,
        "federation-unknown-key",
        "Unknown signing key",
        "The sender's published keys do not include the key that signed this message.",
        kid=kid,
    )


def clock_skew() -> Problem:
    return Problem(
        401,
        "federation-clock-skew",
        "Message outside the allowed clock skew",
        "The message was signed too long ago, or in the future, by this deployment's clock.",
    )


def unknown_peer() -> Problem:
    return Problem(
        403, "federation-unknown-peer", "Unknown peer", "No agreement with the sending network exists here."
    )


def wrong_recipient() -> Problem:
    return Problem(
        403,
        "federation-wrong-recipient",
        "Wrong recipient",
        "The message is addressed to a network that is not hosted by this deployment.",
    )


def not_in_force(state: str) -> Problem:
    return Problem(
        403,
        "federation-agreement-not-in-force",
        "Agreement not in force",
        "Nothing crosses until the agreement is accepted, nor while it is suspended or after it ended.",
        agreement_state=state,
    )


def type_not_allowed(event_type: str) -> Problem:
    return Problem(
        403,
        "federation-type-not-allowed",
        "Message type not allowed",
        "The agreement does not let this type of message cross.",
        event_type=event_type,
    )


def agreement_state(detail: str) -> Problem:
    return Problem(409, "federation-agreement-state", "Agreement state does not allow this", detail)


def peer_unreachable(detail: str) -> Problem:
    return Problem(503, "federation-peer-unreachable", "Peer unreachable", detail)


def answered(request: Request, problem: Problem) -> JSONResponse:
    """A refusal returned, not raised: the request's transaction still commits the refusal's audit entry."""
    return problem_response(
        request, problem.status, problem.slug, problem.title, problem.detail, **problem.extensions
    )


class Refusal(Exception):
    """A message (or a peer's request) refused: ``problem`` says why; a message refused before its effect
    leaves nothing recorded but the audit entry."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.slug)
        self.problem = problem
