"""A client refuses unusable settings and lives in one event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aioresponses import aioresponses

from gridy_async import (
    ConfigurationError,
    EventLoopError,
    GridyClient,
    Stamper,
    ValidationError,
)

API_USER = "123456789"
SECRET = "s3cr3t"
BASE = "https://api.gridy.io"
ACCEPTED: dict[str, Any] = {
    "code": 2025,
    "status": 202,
    "message": {"challengeId": "ch-1", "challengeQRcodeUrl": "https://q/1.png"},
}


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": "30"},
        {"timeout": None},
        {"timeout": True},
        {"timeout": float("inf")},
        {"connect_timeout": -1},
        {"stamper": "not a stamper"},
        {"base_url": "https://[::1"},
        {"base_url": "https://api.gridy.io:99999"},
        {"base_url": 42},
    ],
    ids=repr,
)
def test_unusable_settings_are_configuration_errors(options: dict[str, Any]) -> None:
    """Each unusable setting raises ConfigurationError at construction."""
    with pytest.raises(ConfigurationError):
        GridyClient(API_USER, SECRET, **options)


def test_a_client_used_from_a_second_event_loop_says_so() -> None:
    """A second event loop gets EventLoopError, not aiohttp's RuntimeError."""
    client = GridyClient(API_USER, SECRET, stamper=Stamper())
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    try:
        with aioresponses() as mocked:
            mocked.post(BASE + "/v1/svc/challenge", status=202, payload=ACCEPTED)
            accepted = first.run_until_complete(client.send_challenge("a@example.com"))
            with pytest.raises(EventLoopError, match="one client per event loop"):
                second.run_until_complete(client.send_challenge("a@example.com"))
        first.run_until_complete(client.aclose())
    finally:
        first.close()
        second.close()

    assert accepted.challenge_id == "ch-1"


async def test_check_blocked_needs_an_address() -> None:
    """check_blocked without an IP address is a ValidationError, not an assert."""
    async with GridyClient(API_USER, SECRET) as gridy:
        with pytest.raises(ValidationError, match="ip_address"):
            await gridy.check_blocked("ann@example.com", None)  # type: ignore[arg-type]


async def test_profile_names_have_a_length_limit() -> None:
    """A profile of more than 255 characters is refused before sending."""
    async with GridyClient(API_USER, SECRET) as gridy:
        with pytest.raises(ValidationError, match="profile"):
            await gridy.send_challenge("ann@example.com", profile="p" * 256)
