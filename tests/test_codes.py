"""The code registry against an expected table written from the two spec files."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import gridy_async
from gridy_async import (
    AccountBlockedError,
    AccountDisabledError,
    AccountLockedError,
    AccountStateError,
    ApiUserError,
    AutoVerifyDisabledError,
    ChallengeAccepted,
    ChallengeAlreadyVerifiedError,
    ChallengeCancelled,
    ChallengeCancelledError,
    ChallengeExpiredError,
    ChallengeMismatchError,
    ChallengePendingError,
    ChallengeRejectedError,
    ChallengeVerified,
    ClockDriftError,
    GridyError,
    InternalServerError,
    InvalidEmailError,
    InvalidRequestError,
    InvalidSignatureError,
    IPBlockedError,
    NonceReusedError,
    RequestHeaderError,
    ServerTime,
    TimestampReusedError,
    UnknownCodeError,
    WrongAuthCodeError,
    _errors,
    all_codes,
    lookup_code,
)

# code -> (HTTP status, result class or exception class). Written by hand from
# challenge-endpoint.txt's response table and FACTS.md's "Codes beyond the
# spec page's table", with the class chosen from the code's description.
EXPECTED: dict[int, tuple[int, type[Any]]] = {
    # challenge-endpoint.txt, "Responses"
    2025: (202, ChallengeAccepted),
    2028: (202, ChallengeCancelled),
    -1001: (400, ApiUserError),
    -1003: (400, ApiUserError),
    -1026: (400, ApiUserError),
    -1095: (400, AutoVerifyDisabledError),
    -2003: (400, AccountStateError),
    -2004: (400, AccountBlockedError),
    -2005: (400, AccountLockedError),
    -2006: (400, AccountLockedError),
    -2007: (400, AccountDisabledError),
    -2008: (400, AccountDisabledError),
    -2009: (400, AccountLockedError),
    -2010: (400, AccountDisabledError),
    -2017: (400, AccountLockedError),
    -2038: (400, AccountLockedError),
    -2035: (400, ChallengeCancelledError),
    -4004: (400, RequestHeaderError),
    -4005: (400, RequestHeaderError),
    -4006: (400, RequestHeaderError),
    -4007: (400, RequestHeaderError),
    -4008: (400, RequestHeaderError),
    -4009: (400, RequestHeaderError),
    -4000: (400, RequestHeaderError),
    -4001: (400, RequestHeaderError),
    -4026: (400, RequestHeaderError),
    -4027: (400, RequestHeaderError),
    -4028: (400, RequestHeaderError),
    -4029: (400, RequestHeaderError),
    -4030: (400, RequestHeaderError),
    -4031: (400, RequestHeaderError),
    -4032: (400, RequestHeaderError),
    -4033: (400, RequestHeaderError),
    -4034: (400, NonceReusedError),
    -4035: (400, TimestampReusedError),
    -4036: (400, ClockDriftError),
    -4037: (400, InvalidSignatureError),
    -5070: (400, InvalidRequestError),
    -5071: (400, InvalidRequestError),
    -5072: (400, InvalidRequestError),
    -5075: (400, InvalidRequestError),
    -5076: (400, InvalidRequestError),
    -5077: (400, InvalidRequestError),
    -5078: (400, InvalidRequestError),
    -5079: (400, InvalidEmailError),
    -6021: (400, IPBlockedError),
    -5000: (500, InternalServerError),
    # FACTS.md, "Codes beyond the spec page's table"
    3080: (200, ChallengeVerified),
    15000: (200, ServerTime),
    5000: (500, InternalServerError),
    -3081: (400, ChallengeMismatchError),
    -3082: (400, ChallengeExpiredError),
    -3087: (400, WrongAuthCodeError),
    -3088: (400, ChallengeAlreadyVerifiedError),
    -3089: (400, ChallengeAlreadyVerifiedError),
    -3091: (400, ChallengePendingError),
    -3092: (400, ChallengeRejectedError),
}

SUCCESSES = {2025, 2028, 3080, 15000}


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_lookup_gives_status_and_outcome(
    code: int, expected: tuple[int, type[Any]]
) -> None:
    """Each documented code maps to its HTTP status and its exact outcome class."""
    http_status, outcome = expected

    info = lookup_code(code)

    assert info.code == code
    assert info.http_status == http_status
    assert info.outcome is outcome
    assert info.is_error is (code not in SUCCESSES)
    assert info.name
    assert info.meaning
    assert bool(info.advice) is info.is_error


def test_registry_holds_exactly_the_documented_codes() -> None:
    """The registry knows every documented code and invents none."""
    assert sorted(info.code for info in all_codes()) == sorted(EXPECTED)


def test_registry_names_are_unique() -> None:
    """No two codes share a snake_case name."""
    names = [info.name for info in all_codes()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("code", [0, 1, 2026, -1, -4038, -9999, 99999])
def test_unknown_code_maps_to_unknown_code_error(code: int) -> None:
    """A code the registry does not know maps to UnknownCodeError and keeps it."""
    info = lookup_code(code)

    assert info.outcome is UnknownCodeError
    assert info.code == code
    assert info.is_error
    assert str(code) in info.meaning


def _error_classes() -> list[type[BaseException]]:
    found = {
        obj
        for module in (gridy_async, _errors)
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseException)
    }
    found |= {
        info.outcome for info in all_codes() if issubclass(info.outcome, BaseException)
    }
    return sorted(found, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_is_named_error_and_derives_from_gridy_error(
    cls: type[BaseException],
) -> None:
    """Every exception class ends in 'Error' and is a GridyError."""
    assert cls.__name__.endswith("Error")
    assert issubclass(cls, GridyError)
    assert cls.__module__ == "gridy_async._errors"


def test_error_classes_are_all_exported() -> None:
    """Every exception class in the errors module is a public name."""
    assert {cls.__name__ for cls in _error_classes()} <= set(gridy_async.__all__)
