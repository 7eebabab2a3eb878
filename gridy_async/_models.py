"""The attrs classes that travel to and from the Gridy API.

Request classes mirror the wire bodies field for field, in wire order; how a
field is spelled on the wire is the business of `_wire`. Result classes are
what the client returns to callers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "BlockCheck",
    "BlockedQuery",
    "CancelChallenge",
    "ChallengeAccepted",
    "ChallengeCancelled",
    "ChallengeExpiry",
    "ChallengeState",
    "ChallengeStatus",
    "ChallengeType",
    "ChallengeVerified",
    "NewChallenge",
    "RequestBody",
    "RequestType",
    "ServerTime",
    "StatusQuery",
    "VerifyChallenge",
    "VerifyType",
    "WireDialect",
]


class ChallengeType(str, enum.Enum):
    """What the user must do to answer a challenge."""

    USER_KEY_AND_PATTERN = "UserKeyAndPattern"
    USER_KEY_PATTERN_AND_PIN = "UserKeyPatternAndPin"
    USER_KEY_AND_USER_PIN = "UserKeyAndUserPin"
    USER_KEY_AND_USER_FACE = "UserKeyAndUserFace"
    USER_KEY_AND_USER_VOICE = "UserKeyAndUserVoice"
    # Known from the Java SDK only; the spec page does not list them.
    USER_KEY = "UserKey"
    TOTP = "TOTP"
    USER_KEY_AND_TOTP = "UserKeyAndTOTP"


class ChallengeExpiry(str, enum.Enum):
    """How long a challenge stays open."""

    THREE_MINS = "ThreeMins"
    FIVE_MINS = "FiveMins"
    TEN_MINS = "TenMins"  # SDKs only
    FIFTEEN_MINS = "FifteenMins"
    THIRTY_MINS = "ThirtyMins"
    SIXTY_MINS = "SixtyMins"  # SDKs only

    @property
    def seconds(self) -> int:
        """The expiry as a number of seconds."""
        return _EXPIRY_MINUTES[self] * 60


_EXPIRY_MINUTES = {
    ChallengeExpiry.THREE_MINS: 3,
    ChallengeExpiry.FIVE_MINS: 5,
    ChallengeExpiry.TEN_MINS: 10,
    ChallengeExpiry.FIFTEEN_MINS: 15,
    ChallengeExpiry.THIRTY_MINS: 30,
    ChallengeExpiry.SIXTY_MINS: 60,
}


class RequestType(enum.IntEnum):
    """The envelope's ``type``: which operation a request asks for."""

    CHALLENGE_NEW = 150
    CHALLENGE_CANCEL = 151
    VERIFY = 170
    STATUS = 171
    STATUS_ACK = 172
    BLOCKED = 950
    TIME = 990


class WireDialect(str, enum.Enum):
    """How requests are spelled on the wire (FACTS.md, "Wire format").

    ``DOCUMENTED`` follows the vendor's Challenge page: ``utctime`` and a
    nested ``body`` object. ``SDK`` follows the vendor's SDK models:
    ``utcTime`` and ``body`` as a JSON-encoded string. Responses in either
    spelling are always read.
    """

    DOCUMENTED = "documented"
    SDK = "sdk"


@attrs.frozen
class NewChallenge:
    """The body of a new-challenge request (type 150)."""

    gridy_user: str
    challenge_type: ChallengeType = ChallengeType.USER_KEY_AND_PATTERN
    challenge_expiry: ChallengeExpiry = ChallengeExpiry.FIFTEEN_MINS
    enable_qr_code: bool = True
    enable_auto_verify: bool = False
    profile: str | None = None
    ip_address: str | None = None
    status: str = "NEW"


@attrs.frozen
class CancelChallenge:
    """The body of a cancel-challenge request (type 151)."""

    challenge_id: str
    gridy_user: str
    status: str = "CANCEL"


class VerifyType(str, enum.Enum):
    """Who checks the auth code on a verify request."""

    MANUAL = "MANUAL"
    AUTO = "AUTO"


@attrs.frozen
class VerifyChallenge:
    """The body of a verify request (type 170)."""

    gridy_user: str
    challenge_id: str
    auth_code: str
    verify_type: VerifyType | None = None


@attrs.frozen
class StatusQuery:
    """The body of a challenge-status request (type 171)."""

    gridy_user: str
    challenge_id: str


@attrs.frozen
class BlockedQuery:
    """The body of a block-rules check (type 950)."""

    gridy_user: str
    ip_address: str


RequestBody = (
    NewChallenge | CancelChallenge | VerifyChallenge | StatusQuery | BlockedQuery
)


@attrs.frozen(kw_only=True)
class ApiRequest:
    """The envelope every request body travels in.

    ``ref`` is the caller's own reference (the wire's ``id``), left out when None.
    """

    ref: str | None = None
    utctime: int
    api_user: str
    type: RequestType
    body: RequestBody


@attrs.frozen
class ApiResponse:
    """A response body, read leniently into one shape.

    Attributes:
        http_status: The HTTP status the response came with.
        code: The API code (2025, -2035, ...).
        status: The HTTP status the body claims, if it has one.
        message: The body's ``message``: a mapping, a text or None.
        server_id: The body's ``id``.
        utctime: The body's time in epoch milliseconds, if it has one.
        more_info: The body's more-info link.
        raw: The decoded JSON body, untouched.
    """

    http_status: int
    code: int
    status: int | None = None
    message: Mapping[str, Any] | str | None = None
    server_id: str | None = None
    utctime: int | None = None
    more_info: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


def _png_repr(png: bytes | None) -> str:
    return "None" if png is None else f"<{len(png)} bytes of PNG>"


@attrs.frozen
class ChallengeAccepted:
    """A challenge the server accepted (code 2025).

    Attributes:
        challenge_id: Gridy's id for the challenge: keep it to follow or cancel.
        qr_code_url: A link to the challenge's QR code image.
        qr_code_png: The QR code as PNG bytes, when it was asked for.
        server_id: The server's id for the exchange.
        raw: The whole response body.
    """

    challenge_id: str
    qr_code_url: str | None
    qr_code_png: bytes | None = attrs.field(default=None, repr=_png_repr)
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ChallengeCancelled:
    """A challenge the server cancelled (code 2028).

    Attributes:
        challenge_id: The challenge that was cancelled.
        status: The state the server reports, normally ``"CANCELLED"``.
        server_id: The server's id for the exchange.
        raw: The whole response body.
    """

    challenge_id: str
    status: str
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ChallengeVerified:
    """A challenge whose auth code the server verified (code 3080).

    Attributes:
        challenge_id: The challenge that was verified.
        server_id: The server's id for the exchange.
        raw: The whole response body.
    """

    challenge_id: str
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


class ChallengeState(str, enum.Enum):
    """Where a challenge stands, as the status endpoint reports it."""

    PENDING = "PENDING"
    VERIFIED = "VERIFIED"


@attrs.frozen
class ChallengeStatus:
    """The answer of the status endpoint for one challenge.

    A rejected, expired or cancelled challenge is not a status but an error:
    `ChallengeRejectedError`, `ChallengeExpiredError`, `ChallengeCancelledError`.

    Attributes:
        challenge_id: The challenge asked about.
        state: ``PENDING`` (HTTP 204: no answer yet) or ``VERIFIED`` (HTTP 200).
        server_id: The server's id for the exchange, if it sent a body.
        raw: The whole response body; empty for HTTP 204.
    """

    challenge_id: str
    state: ChallengeState
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class BlockCheck:
    """The answer of the block-rules endpoint.

    Attributes:
        ip_address: The address checked.
        blocked: Whether the account's own block rules refuse it (-6021).
        server_id: The server's id for the exchange.
        raw: The whole response body.
    """

    ip_address: str
    blocked: bool
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ServerTime:
    """The server's clock (code 15000).

    Attributes:
        utctime: The server's time in epoch milliseconds.
        server_id: The server's id for the exchange.
        raw: The whole response body.
    """

    utctime: int
    server_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
