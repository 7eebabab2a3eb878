"""Request signing: the FACTS.md known answer and the Authorization header format."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from gridy_async import authorization_header, signature

API_USER = "123456789"
SECRET = "s3cr3t"
UTCTIME = 1734732919817
CNONCE = "8dcb623a-b56e-4534-838b-5e9e"
KNOWN_SIGNATURE = (
    "8240ae9d45dffd445a60ee72bbeb0bf92663dfdde18d435af84a3ca93ddecdfb"
    "7b1288a7fe9bd2b67d26e5d3dd8a8771c216d42a1cdcef84d58014e80c4e57ef"
)


@pytest.mark.parametrize("secret", [SECRET, SECRET.encode("utf-8")])
@pytest.mark.parametrize("utctime", [UTCTIME, str(UTCTIME)])
def test_known_answer(secret: str | bytes, utctime: int | str) -> None:
    """The FACTS.md known answer comes out for str/bytes secrets, int/str times."""
    assert signature(secret, utctime, CNONCE) == KNOWN_SIGNATURE


def test_signature_is_128_lower_case_hex() -> None:
    """The MAC is sent as 128 lower-case hex characters, not base64."""
    assert re.fullmatch(r"[0-9a-f]{128}", signature(SECRET, UTCTIME, CNONCE))


def test_signed_string_is_two_header_lines_without_trailing_newline() -> None:
    """Only the two header lines are signed, joined by one LF, with no trailer."""
    message = f"x-gridy-utctime: {UTCTIME}\nx-gridy-cnonce: {CNONCE}".encode()
    expected = hmac.new(SECRET.encode(), message, hashlib.sha512).hexdigest()

    assert signature(SECRET, UTCTIME, CNONCE) == expected
    assert signature(SECRET, UTCTIME, CNONCE + "\n") != expected


def test_non_ascii_secret_is_keyed_with_its_utf8_bytes() -> None:
    """A text secret is the same key as its UTF-8 encoding."""
    secret = "sécret-ключ"
    assert signature(secret, UTCTIME, CNONCE) == signature(
        secret.encode("utf-8"), UTCTIME, CNONCE
    )


@pytest.mark.parametrize(
    ("secret", "utctime", "cnonce"),
    [
        ("s3cr3u", UTCTIME, CNONCE),
        (SECRET, UTCTIME + 1, CNONCE),
        (SECRET, UTCTIME, CNONCE[:-1] + "f"),
    ],
)
def test_every_input_changes_the_signature(
    secret: str, utctime: int, cnonce: str
) -> None:
    """Changing the secret, the time or the nonce changes the signature."""
    assert signature(secret, utctime, cnonce) != KNOWN_SIGNATURE


def test_authorization_header_exact_format() -> None:
    """The header has the colon after gridy-hmac and no spaces after commas."""
    assert authorization_header(API_USER, KNOWN_SIGNATURE) == (
        "gridy-hmac: apiuser=123456789,"
        "signedheaders=x-gridy-utctime;x-gridy-cnonce,"
        "algorithm=gridy-hmac512,"
        "signature=8240ae9d45dffd445a60ee72bbeb0bf92663dfdde18d435af84a3ca93ddecdfb"
        "7b1288a7fe9bd2b67d26e5d3dd8a8771c216d42a1cdcef84d58014e80c4e57ef"
    )
