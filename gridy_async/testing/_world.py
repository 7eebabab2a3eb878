"""What the sandbox knows: API users, Gridy users, challenges and their fate.

Plain objects on an injectable clock, with no HTTP in sight, so every rule
here can be read and tested on its own. Time is in seconds since the epoch.

A challenge's state is worked out from the clock whenever it is asked for:

    PENDING --(user approves)--> APPROVED --(verify with the auth code)--> VERIFIED
       |   \\--(user rejects)--> REJECTED
       |    \\-(expiry passes)--> EXPIRED
       \\------(cancel)--------> CANCELLED

With auto-verify on, an approval goes straight to VERIFIED.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import secrets
import time
from collections.abc import Callable

import attrs

from .._models import ChallengeExpiry, ChallengeType

__all__ = [
    "Answer",
    "ApiUserAccount",
    "ChallengeFate",
    "FakeClock",
    "SandboxChallenge",
    "UserScript",
]

Clock = Callable[[], float]


class FakeClock:
    """A clock that stands still until moved. Pass it as a sandbox's ``clock``.

    Args:
        start: The first reading, in seconds since the epoch; now by default.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


class Answer(str, enum.Enum):
    """What a scripted user does with a challenge."""

    APPROVE = "approve"
    REJECT = "reject"
    IGNORE = "ignore"


@attrs.frozen
class UserScript:
    """How a Gridy user answers: what, and how many seconds after the push."""

    answer: Answer = Answer.IGNORE
    after: float = 0.0


class ChallengeFate(str, enum.Enum):
    """Where a sandbox challenge stands."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    VERIFIED = "VERIFIED"


# Auth codes of a test server need to differ, not to resist attack: a plain
# generator, seeded once from the OS, spares a system call per challenge.
_codes = random.Random(secrets.randbits(64))


def _auth_code() -> str:
    return f"{_codes.randrange(1_000_000):06d}"


@attrs.define
class SandboxChallenge:
    """A challenge the sandbox created, and what became of it.

    Attributes:
        challenge_id: The id handed to the client.
        user: The Gridy user it was sent to.
        challenge_type: What the user was asked to do.
        expiry: How long it stays open.
        created_at: The sandbox clock at creation.
        script: How the user will answer it.
        auto_verify: Whether Gridy verifies the auth code itself.
        auth_code: The code the user's app shows once they approve.
        ref: The caller's reference, if any.
        ip_address: The user IP the caller gave, if any.
        cancelled_at: When it was cancelled, if it was.
        verified_at: When its auth code was verified, if it was.
        qr_code_png: The QR code image, once drawn.
    """

    challenge_id: str
    user: str
    challenge_type: ChallengeType
    expiry: ChallengeExpiry
    created_at: float
    script: UserScript = UserScript()
    auto_verify: bool = False
    auth_code: str = attrs.field(factory=_auth_code)
    ref: str | None = None
    ip_address: str | None = None
    cancelled_at: float | None = None
    verified_at: float | None = None
    qr_code_png: bytes | None = attrs.field(default=None, repr=False)

    @property
    def expires_at(self) -> float:
        """When it expires unanswered."""
        return self.created_at + self.expiry.seconds

    def fate(self, now: float) -> ChallengeFate:
        """Where it stands at ``now``."""
        if self.verified_at is not None and self.verified_at <= now:
            return ChallengeFate.VERIFIED
        if self.cancelled_at is not None:
            return ChallengeFate.CANCELLED

        # An answer counts once given, and only if given before the expiry.
        answered_at = self.created_at + self.script.after
        answered = answered_at <= now and answered_at < self.expires_at
        if self.script.answer is not Answer.IGNORE and answered:
            if self.script.answer is Answer.REJECT:
                return ChallengeFate.REJECTED
            if self.auto_verify:
                return ChallengeFate.VERIFIED
            return ChallengeFate.APPROVED
        if now >= self.expires_at:
            return ChallengeFate.EXPIRED
        return ChallengeFate.PENDING

    def answer(self, answer: Answer, now: float) -> None:
        """Make the user answer now (the console's buttons do this)."""
        self.script = UserScript(answer, max(0.0, now - self.created_at))


@attrs.define
class ApiUserAccount:
    """One API user the sandbox accepts, and the state of its account.

    Attributes:
        secret: The API secret.
        state: An API-user error code every request gets after signing
            (-1003 validation, -1026 permissions), or None when in order.
        auto_verify: Whether the account may ask Gridy to auto-verify;
            asking when it may not is -1095.
        block_rules: IPv4 networks the account refuses (-6021).
    """

    secret: bytes
    state: int | None = None
    auto_verify: bool = True
    block_rules: list[ipaddress.IPv4Network] = attrs.field(factory=list)

    def blocks(self, ip_address: str) -> bool:
        """Whether a block rule covers ``ip_address``."""
        address = ipaddress.IPv4Address(ip_address)
        return any(address in network for network in self.block_rules)
