"""Checks on caller input, run before anything is stamped or sent.

Each check returns the value to send or raises `ValidationError` naming the
argument. Messages never repeat a secret.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from typing import TypeVar

import email_validator

from ._errors import ValidationError

__all__ = [
    "check_challenge_id",
    "check_credential",
    "check_email",
    "check_enum",
    "check_ipv4",
    "check_ref",
    "check_text",
]

MAX_EMAIL_LENGTH = 125  # Challenge page: gridyUser "(max 125 chars)"
MAX_REF_LENGTH = 25  # Challenge page: id "(max 25 chars)"

_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

E = TypeVar("E", bound=enum.Enum)


def check_credential(field: str, value: object, *, secret: bool = False) -> str | bytes:
    """Check an API user or secret: non-empty, free of whitespace and controls."""
    what = "the API secret" if secret else repr(value)
    if isinstance(value, bytes) and secret:
        if not value or re.search(rb"[\s\x00-\x1f\x7f]", value):
            raise ValidationError(
                field, "must be non-empty, without whitespace or control characters"
            )
        return value
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, got {type(value).__name__}")
    if not value:
        raise ValidationError(field, "must not be empty")
    if _UNSAFE.search(value):
        raise ValidationError(
            field, f"{what} contains whitespace or a control character"
        )
    return value


# A plain dot-atom local part: a strict subset of what email-validator takes
# before the @-sign (RFC 5322 atext, no quotes, no empty dot-separated runs).
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_MAX_LOCAL_LENGTH = 64  # RFC 5321


def email_problem(value: str) -> str | None:
    """What is wrong with an e-mail address's syntax, or None if nothing is.

    email-validator decides. It is the costliest step of a call, and most of
    its cost is the domain, which thousands of users share; so an address
    with a plain local part at a domain email-validator has already accepted
    is accepted without asking again, and every other address is asked about
    in full (with its verdict remembered too).
    """
    local, at, domain = value.rpartition("@")
    if (
        at
        and len(local) <= _MAX_LOCAL_LENGTH
        and len(value) <= MAX_EMAIL_LENGTH
        and _PLAIN_LOCAL.fullmatch(local)
        and _address_problem(f"postmaster@{domain}") is None
    ):
        return None
    return _address_problem(value)


@functools.lru_cache(maxsize=4096)
def _address_problem(value: str) -> str | None:
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    return None


def check_email(value: object, field: str = "user") -> str:
    """Check a Gridy user's e-mail address: syntax and at most 125 characters."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be an e-mail address, got {value!r:.40}")
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            field,
            f"is {len(value)} characters long; Gridy takes at most {MAX_EMAIL_LENGTH}",
        )
    problem = email_problem(value)
    if problem is not None:
        raise ValidationError(
            field, f"{value!r} is not a valid e-mail address: {problem}"
        )
    return value


def check_text(value: object, field: str, *, max_length: int | None = None) -> str:
    """Check free text: non-empty, no control characters, not too long."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError(field, "must not be empty or only white space")
    if _CONTROL.search(value):
        raise ValidationError(field, f"{value!r:.40} contains a control character")
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            field, f"is {len(value)} characters long; Gridy takes at most {max_length}"
        )
    return value


def check_ref(value: object) -> str | None:
    """Check the caller's own reference: at most 25 characters, or None."""
    return (
        None if value is None else check_text(value, "ref", max_length=MAX_REF_LENGTH)
    )


def check_challenge_id(value: object) -> str:
    """Check a challenge id as Gridy returned it."""
    return check_text(value, "challenge_id", max_length=200)


def check_ipv4(value: object, field: str = "ip_address") -> str | None:
    """Check a dotted-quad IPv4 address, or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, got {type(value).__name__}")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValidationError(
            field, f"{value!r:.60} is not an IPv4 address such as 203.0.113.7"
        ) from None


def check_enum(enum_type: type[E], value: object, field: str) -> E:
    """Return ``value`` as a member of ``enum_type``, accepting its wire value."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        options = ", ".join(str(member.value) for member in enum_type)
        raise ValidationError(
            field, f"{value!r:.40} is not one of: {options}"
        ) from None
