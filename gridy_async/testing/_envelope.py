"""How the sandbox reads request bodies, in either wire dialect.

Checks follow the Challenge page's -507x codes: a null body (-5070), a body
of the wrong type (-5071), an unknown request type (-5072), unreadable JSON
or a bad field (-5075), a bad or missing challenge type (-5076, -5078), a
missing user (-5077) and an invalid e-mail address (-5079).
"""

from __future__ import annotations

import enum
import ipaddress
import json
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import attrs

from .._models import (
    BlockedQuery,
    CancelChallenge,
    ChallengeExpiry,
    ChallengeType,
    NewChallenge,
    RequestType,
    StatusQuery,
    VerifyChallenge,
    VerifyType,
    WireDialect,
)
from .._validation import MAX_EMAIL_LENGTH, MAX_REF_LENGTH, email_problem
from ._auth import Rejection

__all__ = [
    "Envelope",
    "parse_envelope",
    "read_blocked",
    "read_cancel",
    "read_new_challenge",
    "read_status",
    "read_verify",
]


@attrs.frozen
class Envelope:
    """A request envelope that passed the checks."""

    type: RequestType
    ref: str | None
    dialect: WireDialect
    body: Mapping[str, Any]


E = TypeVar("E", bound=enum.Enum)


def _by_value(enum_type: type[E]) -> dict[object, E]:
    # Every request is read through these; a dict look-up is several times
    # cheaper than calling the enum.
    return {member.value: member for member in enum_type}


_REQUEST_TYPES = _by_value(RequestType)
_CHALLENGE_TYPES = _by_value(ChallengeType)
_EXPIRIES = _by_value(ChallengeExpiry)


def _member(members: Mapping[object, E], value: object) -> E | None:
    """The member with wire value ``value``, or None."""
    try:
        return members.get(value)
    except TypeError:  # an unhashable value, such as a list
        return None


def sniff_dialect(raw: bytes) -> WireDialect:
    """Guess the dialect of a request, to answer in the same spelling."""
    return WireDialect.SDK if b'"utcTime"' in raw else WireDialect.DOCUMENTED


def _object(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise Rejection(-5075, "body JSON could not be parsed") from None


def parse_envelope(
    raw: bytes, api_user: str, allowed: Collection[RequestType]
) -> Envelope:
    """Check the envelope of a request signed by ``api_user``.

    Raises:
        Rejection: The envelope is not one this endpoint accepts.
    """
    if not raw.strip():
        raise Rejection(-5070, "empty body")
    data = _object(raw)
    if data is None:
        raise Rejection(-5070, "null body")
    if not isinstance(data, dict):
        raise Rejection(-5071, "the request is not a JSON object")

    kind = data.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise Rejection(-5071, "type is missing or not a number")
    if kind not in allowed:
        raise Rejection(-5072, f"type {kind} is unknown here")
    envelope_user = data.get("apiUser", data.get("apiuser"))
    if envelope_user is not None and str(envelope_user) != api_user:
        raise Rejection(-1003, "apiUser differs from the signed API user")
    ref = data.get("id")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
        raise Rejection(-5075, f"id must be text of at most {MAX_REF_LENGTH}")

    # The documented dialect nests the body; the SDKs send it as a string.
    body = data.get("body")
    dialect = WireDialect.SDK if "utcTime" in data else WireDialect.DOCUMENTED
    if isinstance(body, str):
        body = _object(body)
    if body is None:
        raise Rejection(-5070, "body is null")
    if not isinstance(body, dict):
        raise Rejection(-5071, "body is not a JSON object")
    return Envelope(_REQUEST_TYPES[kind], ref, dialect, body)


def _email(body: Mapping[str, Any]) -> str:
    user = body.get("gridyUser")
    if user is None or user == "":
        raise Rejection(-5077, "gridyUser missing")
    if not isinstance(user, str) or len(user) > MAX_EMAIL_LENGTH:
        raise Rejection(-5079, "gridyUser is not a valid e-mail address")
    if email_problem(user) is not None:
        raise Rejection(-5079, "gridyUser is not a valid e-mail address")
    return user


def _flag(body: Mapping[str, Any], names: tuple[str, ...], default: bool) -> bool:
    for name in names:
        if name in body:
            value = body[name]
            if not isinstance(value, bool):
                raise Rejection(-5075, f"{name} is not a JSON boolean")
            return value
    return default


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Rejection(-5075, f"{name} is not text")
    return value or None


def _status(body: Mapping[str, Any], expected: str, *, required: bool) -> str:
    status = body.get("status", None if required else expected)
    if status != expected:
        raise Rejection(-5075, f"status must be {expected!r}")
    return expected


def read_new_challenge(body: Mapping[str, Any]) -> NewChallenge:
    """Read a type-150 body. The spec page's table spells the QR flag both ways."""
    user = _email(body)
    kind = body.get("challengeType")
    if kind is None:
        raise Rejection(-5078, "challengeType missing")
    challenge_type = _member(_CHALLENGE_TYPES, kind)
    if challenge_type is None:
        raise Rejection(-5076, f"challengeType {kind!r} is unknown")
    expiry = _member(_EXPIRIES, body.get("challengeExpiry", "FifteenMins"))
    if expiry is None:
        raise Rejection(-5075, "challengeExpiry is unknown")

    ip_address = _optional_text(body, "ipAddress")
    if ip_address is not None:
        try:
            ipaddress.IPv4Address(ip_address)
        except ValueError:
            raise Rejection(-5075, "ipAddress is not an IPv4 address") from None
    return NewChallenge(
        gridy_user=user,
        challenge_type=challenge_type,
        challenge_expiry=expiry,
        enable_qr_code=_flag(body, ("enableQRCode", "enableQRcode"), True),
        enable_auto_verify=_flag(body, ("enableAutoVerify",), False),
        profile=_optional_text(body, "profile"),
        ip_address=ip_address,
        status=_status(body, "NEW", required=False),
    )


def read_cancel(body: Mapping[str, Any]) -> CancelChallenge:
    """Read a type-151 body."""
    return CancelChallenge(
        challenge_id=_challenge_id(body),
        gridy_user=_email(body),
        status=_status(body, "CANCEL", required=True),
    )


def _challenge_id(body: Mapping[str, Any]) -> str:
    challenge_id = body.get("challengeId")
    if not isinstance(challenge_id, str) or not challenge_id:
        raise Rejection(-5075, "challengeId missing")
    return challenge_id


def read_status(body: Mapping[str, Any]) -> StatusQuery:
    """Read a type-171 body."""
    return StatusQuery(gridy_user=_email(body), challenge_id=_challenge_id(body))


def read_verify(body: Mapping[str, Any]) -> VerifyChallenge:
    """Read a type-170 body."""
    auth_code = body.get("authCode")
    if not isinstance(auth_code, str) or not auth_code:
        raise Rejection(-5075, "authCode missing")
    verify_type = body.get("verifyType")
    try:
        kind = None if verify_type is None else VerifyType(verify_type)
    except ValueError:
        raise Rejection(-5075, "verifyType is neither MANUAL nor AUTO") from None
    return VerifyChallenge(
        gridy_user=_email(body),
        challenge_id=_challenge_id(body),
        auth_code=auth_code,
        verify_type=kind,
    )


def read_blocked(body: Mapping[str, Any]) -> BlockedQuery:
    """Read a type-950 body."""
    ip_address = _optional_text(body, "ipAddress")
    if ip_address is None:
        raise Rejection(-5075, "ipAddress missing")
    try:
        ipaddress.IPv4Address(ip_address)
    except ValueError:
        raise Rejection(-5075, "ipAddress is not an IPv4 address") from None
    return BlockedQuery(gridy_user=_email(body), ip_address=ip_address)
