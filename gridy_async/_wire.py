"""Requests to bytes and bytes to responses, in both wire dialects.

Requests are written in one dialect, chosen per client (`WireDialect`).
Responses are read in any spelling seen in the wild (FACTS.md, "Wire format:
two dialects"): keys in any case, with or without spaces (``moreinfo``,
``moreInfo``, ``more info``); ``utctime`` as epoch milliseconds (number or
string) or ISO-8601; ``message`` as an object, as JSON inside a string, or as
plain text; and ``status`` and ``code`` swapped, as in one docs example.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import DecodeError, InvalidResponseError
from ._models import (
    ApiRequest,
    ApiResponse,
    BlockedQuery,
    CancelChallenge,
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeState,
    ChallengeStatus,
    ChallengeVerified,
    NewChallenge,
    RequestBody,
    ServerTime,
    StatusQuery,
    VerifyChallenge,
    WireDialect,
)

__all__ = [
    "decode_response",
    "encode_request",
    "read_challenge_accepted",
    "read_challenge_cancelled",
    "read_challenge_status",
    "read_challenge_verified",
    "read_server_time",
    "unstructure_body",
]

# Python field name -> wire key, per body class. Fields that are None are left
# out ("Optional request fields that are unset are left out", FACTS.md).
_BODY_KEYS: dict[type[Any], dict[str, str]] = {
    NewChallenge: {
        "gridy_user": "gridyUser",
        "challenge_type": "challengeType",
        "challenge_expiry": "challengeExpiry",
        "enable_qr_code": "enableQRCode",
        "enable_auto_verify": "enableAutoVerify",
        "profile": "profile",
        "ip_address": "ipAddress",
        "status": "status",
    },
    CancelChallenge: {
        "challenge_id": "challengeId",
        "gridy_user": "gridyUser",
        "status": "status",
    },
    VerifyChallenge: {
        "gridy_user": "gridyUser",
        "challenge_id": "challengeId",
        "auth_code": "authCode",
        "verify_type": "verifyType",
    },
    StatusQuery: {"gridy_user": "gridyUser", "challenge_id": "challengeId"},
    BlockedQuery: {"gridy_user": "gridyUser", "ip_address": "ipAddress"},
}
_OPTIONAL_BODY_FIELDS = {"profile", "ip_address", "verify_type"}

_TIME_KEY = {WireDialect.DOCUMENTED: "utctime", WireDialect.SDK: "utcTime"}
_SNIPPET_CHARS = 200


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _in_order(
    hook: Callable[[Any], dict[str, Any]], keys: list[str]
) -> Callable[[Any], dict[str, Any]]:
    # cattrs writes omit_if_default fields after all the others; put every
    # key back in the spec page's order (challenge-endpoint.txt, "Example").
    def ordered(value: Any) -> dict[str, Any]:
        data = hook(value)
        return {key: data[key] for key in keys if key in data}

    return ordered


def _body_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for cls, keys in _BODY_KEYS.items():
        overrides: dict[str, Any] = {
            name: override(rename=key, omit_if_default=name in _OPTIONAL_BODY_FIELDS)
            for name, key in keys.items()
        }
        hook = make_dict_unstructure_fn(cls, converter, **overrides)
        converter.register_unstructure_hook(cls, _in_order(hook, [*keys.values()]))
    return converter


_bodies = _body_converter()


def unstructure_body(body: RequestBody) -> dict[str, Any]:
    """Return ``body`` as the JSON object it is on the wire."""
    result: dict[str, Any] = _bodies.unstructure(body)
    return result


def _envelope_converter(dialect: WireDialect) -> cattrs.Converter:
    converter = cattrs.Converter()
    body_hook: Callable[[RequestBody], Any] = unstructure_body
    if dialect is WireDialect.SDK:
        # The SDKs' models carry the body as a JSON document inside a string.
        body_hook = lambda body: _dumps(unstructure_body(body))  # noqa: E731
    hook = make_dict_unstructure_fn(
        ApiRequest,
        converter,
        ref=override(rename="id", omit_if_default=True),
        utctime=override(rename=_TIME_KEY[dialect], unstruct_hook=str),
        api_user=override(rename="apiUser"),
        type=override(unstruct_hook=int),
        body=override(unstruct_hook=body_hook),
    )
    keys = ["id", _TIME_KEY[dialect], "apiUser", "type", "body"]
    converter.register_unstructure_hook(ApiRequest, _in_order(hook, keys))
    return converter


_envelopes = {dialect: _envelope_converter(dialect) for dialect in WireDialect}


def encode_request(request: ApiRequest, dialect: WireDialect) -> bytes:
    """Return the JSON bytes of ``request`` in ``dialect``."""
    data = _envelopes[dialect].unstructure(request)
    return _dumps(data).encode("utf-8")


# --- Responses -----------------------------------------------------------


_NOT_ALNUM = re.compile(r"[^0-9a-z]")


@functools.lru_cache(maxsize=256)
def _fold(key: str) -> str:
    """Fold a key to letters and digits, lower case: ``more info`` -> ``moreinfo``."""
    return _NOT_ALNUM.sub("", key.lower())


_RESPONSE_KEYS = {
    "id": "server_id",
    "utctime": "utctime",
    "status": "status",
    "code": "code",
    "message": "message",
    "moreinfo": "more_info",
}


def _to_int(value: Any, _: Any = None) -> int:
    # bool is an int subclass; true/false is never a code or a status.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected an integer, got {value!r:.40}")


def _to_optional_int(value: Any, _: Any = None) -> int | None:
    return None if value is None else _to_int(value)


def _to_optional_text(value: Any, _: Any = None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {value!r:.40}")


def _to_epoch_ms(value: Any, _: Any = None) -> int | None:
    """Read a response time; an unreadable one is dropped, never fatal."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # json.loads reads NaN and Infinity; int() cannot take them
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is true too
        return int(text)
    try:
        # Python 3.10's fromisoformat does not take a trailing "Z".
        when = dt.datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)


def _to_message(value: Any, _: Any = None) -> Mapping[str, Any] | str | None:
    if value is None or isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            try:
                inner = json.loads(value)
            except (ValueError, RecursionError):  # too deep for json is text
                return value
            if isinstance(inner, Mapping):
                return inner
        return value
    raise ValueError(f"expected an object or text, got {value!r:.40}")


def _response_converter(*, detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed)
    converter.register_structure_hook(
        ApiResponse,
        make_dict_structure_fn(
            ApiResponse,
            converter,
            code=override(struct_hook=_to_int),
            status=override(struct_hook=_to_optional_int),
            message=override(struct_hook=_to_message),
            server_id=override(struct_hook=_to_optional_text),
            utctime=override(struct_hook=_to_epoch_ms),
            more_info=override(struct_hook=_to_optional_text),
            raw=override(struct_hook=lambda value, _: value),
        ),
    )
    return converter


# The plain converter is quicker; the detailed one, used only once a body has
# failed, says which field was at fault.
_responses = _response_converter(detailed=False)
_responses_detailed = _response_converter(detailed=True)


def _snippet(body: bytes) -> str:
    return body[:_SNIPPET_CHARS].decode("utf-8", "replace")


def _failed_field(exc: ClassValidationError) -> str:
    for inner in exc.exceptions:
        for note in getattr(inner, "__notes__", ()):
            name = getattr(note, "name", None)
            if isinstance(name, str):
                return name
    return "$"


def _structure_response(fields: dict[str, Any]) -> ApiResponse:
    try:
        return _responses.structure(fields, ApiResponse)
    except Exception:
        return _responses_detailed.structure(fields, ApiResponse)


def _looks_like_http_status(value: int | None) -> bool:
    return value is not None and 100 <= value <= 599


def decode_response(http_status: int, body: bytes) -> ApiResponse:
    """Read a response body of any known spelling into an `ApiResponse`.

    Raises:
        InvalidResponseError: The body is empty or not JSON.
        DecodeError: The body is JSON but not a response object with a code.
    """
    if not body.strip():
        raise InvalidResponseError(
            f"the server answered HTTP {http_status} with an empty body",
            http_status=http_status,
            snippet="",
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # valid JSON too deep to parse
        raise InvalidResponseError(
            f"the server answered HTTP {http_status} with a body that is not JSON",
            http_status=http_status,
            snippet=_snippet(body),
        ) from exc
    if not isinstance(data, dict):
        raise DecodeError(
            f"expected a JSON object, got {type(data).__name__}",
            field="$",
            http_status=http_status,
        )

    fields: dict[str, Any] = {"http_status": http_status, "raw": data}
    wire_keys: dict[str, str] = {}  # field name -> the key as the body spells it
    for key, value in data.items():
        name = _RESPONSE_KEYS.get(_fold(key))
        if name is not None and name not in fields:
            fields[name] = value
            wire_keys[name] = key
    try:
        response = _structure_response(fields)
    except ClassValidationError as exc:
        name = _failed_field(exc)
        detail = "missing" if name not in fields else "unreadable"
        field = wire_keys.get(name, name)
        raise DecodeError(
            f"the response's {field!r} is {detail}: {_snippet(body)!r}",
            field=field,
            http_status=http_status,
        ) from exc

    # One docs example swaps the two: an HTTP status sits in "code".
    swapped = _looks_like_http_status(response.code) and not _looks_like_http_status(
        response.status
    )
    if swapped and response.status is not None:
        response = attrs.evolve(response, code=response.status, status=response.code)
    return response


def _message_fields(response: ApiResponse) -> dict[str, Any]:
    if not isinstance(response.message, Mapping):
        raise DecodeError(
            f"code {response.code} came without a message object",
            field="message",
            http_status=response.http_status,
        )
    return {_fold(key): value for key, value in response.message.items()}


def _require_text(fields: Mapping[str, Any], key: str, response: ApiResponse) -> str:
    # ``fields`` is folded; ``key`` keeps the spec's spelling for the error.
    value = fields.get(_fold(key))
    if not isinstance(value, str) or not value:
        raise DecodeError(
            f"code {response.code} came without a usable message.{key}",
            field=f"message.{key}",
            http_status=response.http_status,
        )
    return value


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DATA_URL_PREFIX = "data:image/png;base64,"


def decode_qr_data_url(
    value: str | None, *, http_status: int | None = None
) -> bytes | None:
    """Return the PNG bytes inside a ``data:image/png;base64,`` URL.

    None or an empty string (no QR code asked for) gives None.

    Line breaks and spaces inside the base64 are allowed (MIME encoders wrap
    lines); any other character outside the base64 alphabet is an error.

    Raises:
        DecodeError: The URL is not a base64 PNG data URL.
    """
    field = "message.challengeQRcode"
    if not value:
        return None
    if not value[: len(_DATA_URL_PREFIX)].lower() == _DATA_URL_PREFIX:
        raise DecodeError(
            f"expected a {_DATA_URL_PREFIX!r} URL, got {value[:40]!r}",
            field=field,
            http_status=http_status,
        )
    payload = re.sub(r"[ \t\r\n]", "", value[len(_DATA_URL_PREFIX) :])
    try:
        png = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise DecodeError(
            f"the QR code is not valid base64: {exc}",
            field=field,
            http_status=http_status,
        ) from exc
    if not png.startswith(_PNG_SIGNATURE):
        raise DecodeError(
            "the QR code is not a PNG image", field=field, http_status=http_status
        )
    return png


def read_challenge_accepted(response: ApiResponse) -> ChallengeAccepted:
    """Build the result of a 2025 answer.

    Raises:
        DecodeError: The answer lacks a challenge id, or its QR code is not a
            PNG data URL. The push went out all the same, so the error keeps
            the challenge id when there is one.
    """
    fields = _message_fields(response)
    challenge_id = _require_text(fields, "challengeId", response)
    qr_url = fields.get("challengeqrcodeurl")
    qr_code = fields.get("challengeqrcode")
    try:
        if qr_code is not None and not isinstance(qr_code, str):
            raise DecodeError(
                "message.challengeQRcode is not text",
                field="message.challengeQRcode",
                http_status=response.http_status,
            )
        png = decode_qr_data_url(qr_code, http_status=response.http_status)
    except DecodeError as exc:
        raise DecodeError(
            f"Gridy accepted challenge {challenge_id} (the push went out), but "
            f"its QR code is unreadable: {exc}",
            field=exc.field,
            http_status=exc.http_status,
            challenge_id=challenge_id,
        ) from exc
    return ChallengeAccepted(
        challenge_id=challenge_id,
        qr_code_url=qr_url if isinstance(qr_url, str) and qr_url else None,
        qr_code_png=png,
        server_id=response.server_id,
        raw=response.raw,
    )


def read_challenge_cancelled(
    response: ApiResponse, challenge_id: str
) -> ChallengeCancelled:
    """Build the result of a 2028 answer to cancelling ``challenge_id``."""
    status = "CANCELLED"
    if isinstance(response.message, Mapping):
        fields = _message_fields(response)
        if isinstance(fields.get("status"), str):
            status = fields["status"]
    return ChallengeCancelled(
        challenge_id=challenge_id,
        status=status,
        server_id=response.server_id,
        raw=response.raw,
    )


def read_challenge_verified(
    response: ApiResponse, challenge_id: str
) -> ChallengeVerified:
    """Build the result of a 3080 answer to verifying ``challenge_id``."""
    return ChallengeVerified(
        challenge_id=challenge_id, server_id=response.server_id, raw=response.raw
    )


def read_challenge_status(
    response: ApiResponse | None, challenge_id: str
) -> ChallengeStatus:
    """Build a status from a 3080 answer, or from HTTP 204 (None: still pending)."""
    if response is None:
        return ChallengeStatus(challenge_id, ChallengeState.PENDING)
    return ChallengeStatus(
        challenge_id,
        ChallengeState.VERIFIED,
        server_id=response.server_id,
        raw=response.raw,
    )


def read_server_time(response: ApiResponse) -> ServerTime:
    """Build the result of a 15000 answer: ``{"utc-time": "<epoch seconds>"}``."""
    fields = _message_fields(response)
    value = fields.get("utctime")
    seconds = _to_epoch_ms(value) if value is not None else None
    if seconds is None:
        raise DecodeError(
            f"code {response.code} came without a usable message.utc-time",
            field="message.utc-time",
            http_status=response.http_status,
        )
    # FACTS.md: the time endpoint answers in seconds; take milliseconds too.
    utctime = seconds * 1000 if seconds < 100_000_000_000 else seconds
    return ServerTime(utctime=utctime, server_id=response.server_id, raw=response.raw)
