"""The code registry: what every Gridy API code means and what it becomes.

Sources are the Challenge page's response table and FACTS.md's "Codes beyond
the spec page's table". Each entry names the result class a success code
becomes, or the exception class an error code raises, and for errors what the
caller can do about it.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import _errors as e
from ._models import (
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeVerified,
    ServerTime,
)

__all__ = ["CodeInfo", "all_codes", "lookup_code"]


@attrs.frozen
class CodeInfo:
    """What one API code means.

    Attributes:
        code: The API code.
        http_status: The HTTP status the server sends it with.
        name: A short snake_case name.
        meaning: The vendor's description.
        outcome: The result class it becomes, or the exception class it raises.
        advice: For errors, what the caller can do; empty for successes.
    """

    code: int
    http_status: int
    name: str
    meaning: str
    outcome: type[Any]
    advice: str = ""

    @property
    def is_error(self) -> bool:
        """Whether the code raises rather than returns."""
        return issubclass(self.outcome, e.GridyError)


_API_USER = "check GRIDY_API_USER: it must be the API user id from the Gridy console"
_HEADERS = (
    "a signature header did not arrive intact; if a proxy sits between you and "
    "Gridy, make it pass x-gridy-* and Authorization headers unchanged"
)
_BODY = "the request body was not what Gridy expects; please report it as a bug"
_ACCOUNT = "the user must sort out their Gridy account in the Gridy Authenticator app"

# (code, HTTP status, name, meaning, outcome, advice), in the spec page's order.
_TABLE: list[tuple[int, int, str, str, type[Any], str]] = [
    (2025, 202, "challenge_accepted", "New Gridy ID challenge accepted",
     ChallengeAccepted, ""),
    (2028, 202, "challenge_cancelled", "Gridy ID challenge cancelled",
     ChallengeCancelled, ""),
    (3080, 200, "verified", "Verification succeeded", ChallengeVerified, ""),
    (15000, 200, "server_time", "Server time returned", ServerTime, ""),
    (-1001, 400, "api_user_invalid", "API user validation error",
     e.ApiUserError, _API_USER),
    (-1003, 400, "api_user_rejected", "API user validation error",
     e.ApiUserError, _API_USER),
    (-1026, 400, "api_user_permission", "API user permissions error",
     e.ApiUserError, "enable this operation for the API user in the Gridy console"),
    (-1095, 400, "auto_verify_disabled", "API user auto-verify disabled error",
     e.AutoVerifyDisabledError,
     "send without enable_auto_verify, or turn auto-verify on for the API user"),
    (-2003, 400, "account_invalid", "Account validation error",
     e.AccountStateError,
     "the address has no usable Gridy account; the user must register it "
     "in the Gridy Authenticator app"),
    (-2004, 400, "account_blocked", "Account blocked", e.AccountBlockedError,
     _ACCOUNT),
    (-2005, 400, "account_too_many_failures", "Account too many failed attempts",
     e.AccountLockedError, _ACCOUNT),
    (-2006, 400, "account_locked", "Account locked", e.AccountLockedError, _ACCOUNT),
    (-2007, 400, "account_disabled", "Account disabled", e.AccountDisabledError,
     _ACCOUNT),
    (-2008, 400, "account_not_active", "Account not active", e.AccountDisabledError,
     _ACCOUNT),
    (-2009, 400, "account_locked_out", "Account locked", e.AccountLockedError,
     _ACCOUNT),
    (-2010, 400, "account_temporarily_disabled", "Account temporarily disabled",
     e.AccountDisabledError, "wait, then try again; " + _ACCOUNT),
    (-2017, 400, "account_lock_enabled", "Account lock enabled",
     e.AccountLockedError, _ACCOUNT),
    (-2038, 400, "account_lockdown", "Account lockdown activated",
     e.AccountLockedError, _ACCOUNT),
    (-2035, 400, "challenge_cancel_failed", "Challenge cancelled error",
     e.ChallengeCancelledError,
     "the challenge was already cancelled or has ended; nothing is left to cancel"),
    (-3081, 400, "verify_mismatch", "Verify code expired or challenge id mismatch",
     e.ChallengeMismatchError, "check the challenge id and user, or send a new "
     "challenge"),
    (-3082, 400, "challenge_expired", "Verify challenge expired",
     e.ChallengeExpiredError, "send a new challenge"),
    (-3087, 400, "wrong_auth_code", "Wrong auth code", e.WrongAuthCodeError,
     "treat it as a failed login"),
    (-3088, 400, "already_verified", "Challenge already verified",
     e.ChallengeAlreadyVerifiedError, "the challenge was used once already"),
    (-3089, 400, "already_authenticated", "Challenge already authenticated",
     e.ChallengeAlreadyVerifiedError, "the challenge was used once already"),
    (-3091, 400, "challenge_pending", "User has not answered yet",
     e.ChallengePendingError, "ask again later; Gridy suggests every 3 seconds"),
    (-3092, 400, "challenge_rejected", "User rejected the challenge",
     e.ChallengeRejectedError, "treat it as a failed login"),
    (-4000, 400, "authorization_missing", "HTTP Authorization header missing",
     e.RequestHeaderError, _HEADERS),
    (-4001, 400, "authorization_format", "HTTP Authorization header format error",
     e.RequestHeaderError, _HEADERS),
    (-4004, 400, "utctime_missing", "HTTP header x-gridy-utctime missing",
     e.RequestHeaderError, _HEADERS),
    (-4005, 400, "utctime_format", "HTTP header x-gridy-utctime format error",
     e.RequestHeaderError, _HEADERS),
    (-4006, 400, "cnonce_missing", "HTTP header x-gridy-cnonce missing",
     e.RequestHeaderError, _HEADERS),
    (-4007, 400, "cnonce_format", "HTTP header x-gridy-cnonce format error",
     e.RequestHeaderError, _HEADERS),
    (-4008, 400, "apiuser_missing", "HTTP header x-gridy-apiuser missing",
     e.RequestHeaderError, _HEADERS),
    (-4009, 400, "apiuser_format", "HTTP header x-gridy-apiuser format error",
     e.RequestHeaderError, _API_USER),
    (-4026, 400, "signature_missing", "HMAC signature missing",
     e.RequestHeaderError, _HEADERS),
    (-4027, 400, "signature_format", "HMAC signature format error",
     e.RequestHeaderError, _HEADERS),
    (-4028, 400, "hmac_apiuser_missing", "HMAC apiuser missing",
     e.RequestHeaderError, _HEADERS),
    (-4029, 400, "hmac_apiuser_format", "HMAC apiuser format error",
     e.RequestHeaderError, _API_USER),
    (-4030, 400, "algorithm_missing", "HMAC algorithm missing",
     e.RequestHeaderError, _HEADERS),
    (-4031, 400, "algorithm_format", "HMAC algorithm format error",
     e.RequestHeaderError, _HEADERS),
    (-4032, 400, "signed_headers_missing", "HMAC signed headers missing",
     e.RequestHeaderError, _HEADERS),
    (-4033, 400, "signed_headers_format", "HMAC signed headers format error",
     e.RequestHeaderError, _HEADERS),
    (-4034, 400, "nonce_reused", "HMAC nonce reused", e.NonceReusedError,
     "the same request reached Gridy twice: something between you and Gridy "
     "replayed it"),
    (-4035, 400, "timestamp_reused", "HMAC timestamp reused",
     e.TimestampReusedError,
     "another process signs for the same API user in the same millisecond; give "
     "each process its own API user, or send from one process"),
    (-4036, 400, "clock_drift", "HMAC utctime clock drift",
     e.ClockDriftError,
     "the local clock is more than 15 minutes from Gridy's; sync it (NTP) or set "
     "the stamper's offset_ms"),
    (-4037, 400, "signature_invalid", "HMAC signature error",
     e.InvalidSignatureError, "check GRIDY_API_SECRET: the signature did not match"),
    (-5070, 400, "body_null", "API request JSON null body error",
     e.InvalidRequestError, _BODY),
    (-5071, 400, "body_type", "API request JSON body type error",
     e.InvalidRequestError, _BODY),
    (-5072, 400, "body_type_unknown", "API request JSON body type unknown error",
     e.InvalidRequestError, _BODY),
    (-5075, 400, "challenge_body", "API challenge request body error",
     e.InvalidRequestError, _BODY),
    (-5076, 400, "challenge_type_invalid", "API challenge request challenge type error",
     e.InvalidRequestError, "use one of the ChallengeType values"),
    (-5077, 400, "user_missing", "API challenge request body missing user",
     e.InvalidRequestError, _BODY),
    (-5078, 400, "challenge_type_missing",
     "API challenge request body missing challenge type", e.InvalidRequestError,
     _BODY),
    (-5079, 400, "email_invalid", "API challenge request invalid email address",
     e.InvalidEmailError, "correct the user's e-mail address"),
    (-6021, 400, "ip_blocked",
     "API request blocked: IP address location blocked by user-defined rules",
     e.IPBlockedError, "the account's own block rules refuse this IP address"),
    (-5000, 500, "internal_error", "API request rejected due to an internal error",
     e.InternalServerError, "Gridy failed internally; try again later"),
    (5000, 500, "internal_error_sdk", "API request rejected due to an internal error",
     e.InternalServerError, "Gridy failed internally; try again later"),
]  # fmt: skip

_REGISTRY: dict[int, CodeInfo] = {row[0]: CodeInfo(*row) for row in _TABLE}


def lookup_code(code: int) -> CodeInfo:
    """Return what ``code`` means.

    A code this version does not know maps to `UnknownCodeError`, keeping
    the raw code, so a new server code never goes unnoticed.
    """
    info = _REGISTRY.get(code)
    if info is not None:
        return info
    return CodeInfo(
        code=code,
        http_status=0,
        name="unknown",
        meaning=f"API code {code}, unknown to this version of gridy_async",
        outcome=e.UnknownCodeError,
        advice="upgrade gridy_async, or report the code if it persists",
    )


def all_codes() -> list[CodeInfo]:
    """Return every registered code, in the spec page's order."""
    return list(_REGISTRY.values())
