"""Request signing, exactly as Gridy's Java and PHP SDKs do it.

The signed string is two header lines, ``x-gridy-utctime: <ms>`` and
``x-gridy-cnonce: <nonce>``, joined by a single LF with no trailing newline.
The MAC is HMAC-SHA512 keyed with the secret's UTF-8 bytes, sent as 128
lower-case hex characters. Method, path, body and api user are not signed
(FACTS.md, "Signing").
"""

from __future__ import annotations

import hmac

__all__ = ["ALGORITHM", "SIGNED_HEADERS", "authorization_header", "signature"]

ALGORITHM = "gridy-hmac512"
SIGNED_HEADERS = "x-gridy-utctime;x-gridy-cnonce"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signature(secret: str | bytes, utctime: int | str, cnonce: str) -> str:
    """Return the hex HMAC-SHA512 signature for one request.

    Args:
        secret: The API secret, as text (encoded UTF-8) or as raw bytes.
        utctime: The request's ``x-gridy-utctime``, milliseconds since the epoch.
        cnonce: The request's ``x-gridy-cnonce``.

    Returns:
        128 lower-case hexadecimal characters.
    """
    message = f"x-gridy-utctime: {utctime}\nx-gridy-cnonce: {cnonce}"
    # hmac.digest is the one-shot C path: the same MAC as hmac.new, cheaper.
    return hmac.digest(_key(secret), message.encode("utf-8"), "sha512").hex()


def authorization_header(api_user: str, signature: str) -> str:
    """Return the ``Authorization`` header value carrying ``signature``.

    The colon after ``gridy-hmac`` and the absence of spaces after the commas
    are what the server parses; both are deliberate.
    """
    return (
        f"gridy-hmac: apiuser={api_user},signedheaders={SIGNED_HEADERS},"
        f"algorithm={ALGORITHM},signature={signature}"
    )
