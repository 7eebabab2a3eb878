"""Wire conversion: exact request bytes in both dialects, lenient response reading."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest

from gridy_async import (
    ChallengeExpiry,
    ChallengeType,
    DecodeError,
    InvalidResponseError,
    WireDialect,
)
from gridy_async._models import (
    ApiRequest,
    ApiResponse,
    CancelChallenge,
    NewChallenge,
    RequestType,
)
from gridy_async._wire import (
    decode_qr_data_url,
    decode_response,
    encode_request,
    read_challenge_accepted,
    read_challenge_cancelled,
)
from gridy_async.testing._mock import QR_PNG

UTCTIME = 1734732919817
API_USER = "123456789"
PREFIX = "data:image/png;base64,"


PNG = QR_PNG  # a hand-built 1x1 PNG, standing in for a QR code
PNG_URL = PREFIX + base64.b64encode(PNG).decode("ascii")


# --- Requests ------------------------------------------------------------

FULL_NEW = ApiRequest(
    ref="order-42",
    utctime=UTCTIME,
    api_user=API_USER,
    type=RequestType.CHALLENGE_NEW,
    body=NewChallenge(
        gridy_user="ann@example.com",
        challenge_type=ChallengeType.USER_KEY_PATTERN_AND_PIN,
        challenge_expiry=ChallengeExpiry.THIRTY_MINS,
        enable_qr_code=False,
        enable_auto_verify=True,
        profile="DEFAULT",
        ip_address="203.0.113.7",
    ),
)
MINIMAL_NEW = ApiRequest(
    utctime=UTCTIME,
    api_user=API_USER,
    type=RequestType.CHALLENGE_NEW,
    body=NewChallenge(gridy_user="ann@example.com"),
)
CANCEL = ApiRequest(
    ref="order-43",
    utctime=UTCTIME,
    api_user=API_USER,
    type=RequestType.CHALLENGE_CANCEL,
    body=CancelChallenge(challenge_id="ch-7f3a", gridy_user="ann@example.com"),
)
MINIMAL_CANCEL = ApiRequest(
    utctime=UTCTIME,
    api_user=API_USER,
    type=RequestType.CHALLENGE_CANCEL,
    body=CancelChallenge(challenge_id="ch-7f3a", gridy_user="ann@example.com"),
)

FULL_NEW_BODY = (
    '{"gridyUser":"ann@example.com","challengeType":"UserKeyPatternAndPin",'
    '"challengeExpiry":"ThirtyMins","enableQRCode":false,"enableAutoVerify":true,'
    '"profile":"DEFAULT","ipAddress":"203.0.113.7","status":"NEW"}'
)
MINIMAL_NEW_BODY = (
    '{"gridyUser":"ann@example.com","challengeType":"UserKeyAndPattern",'
    '"challengeExpiry":"FifteenMins","enableQRCode":true,"enableAutoVerify":false,'
    '"status":"NEW"}'
)
CANCEL_BODY = (
    '{"challengeId":"ch-7f3a","gridyUser":"ann@example.com","status":"CANCEL"}'
)


def _sdk_string(body: str) -> str:
    """Return ``body`` as a JSON string literal, as the SDK dialect sends it."""
    return '"' + body.replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    ("request_", "dialect", "expected"),
    [
        pytest.param(
            FULL_NEW,
            WireDialect.DOCUMENTED,
            '{"id":"order-42","utctime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{FULL_NEW_BODY}}}',
            id="new-full-documented",
        ),
        pytest.param(
            FULL_NEW,
            WireDialect.SDK,
            '{"id":"order-42","utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{_sdk_string(FULL_NEW_BODY)}}}',
            id="new-full-sdk",
        ),
        pytest.param(
            MINIMAL_NEW,
            WireDialect.DOCUMENTED,
            '{"utctime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{MINIMAL_NEW_BODY}}}',
            id="new-minimal-documented",
        ),
        pytest.param(
            MINIMAL_NEW,
            WireDialect.SDK,
            '{"utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{_sdk_string(MINIMAL_NEW_BODY)}}}',
            id="new-minimal-sdk",
        ),
        pytest.param(
            CANCEL,
            WireDialect.DOCUMENTED,
            '{"id":"order-43","utctime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{CANCEL_BODY}}}',
            id="cancel-documented",
        ),
        pytest.param(
            CANCEL,
            WireDialect.SDK,
            '{"id":"order-43","utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{_sdk_string(CANCEL_BODY)}}}',
            id="cancel-sdk",
        ),
        pytest.param(
            MINIMAL_CANCEL,
            WireDialect.DOCUMENTED,
            '{"utctime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{CANCEL_BODY}}}',
            id="cancel-minimal-documented",
        ),
        pytest.param(
            MINIMAL_CANCEL,
            WireDialect.SDK,
            '{"utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{_sdk_string(CANCEL_BODY)}}}',
            id="cancel-minimal-sdk",
        ),
    ],
)
def test_request_bytes_are_exact(
    request_: ApiRequest, dialect: WireDialect, expected: str
) -> None:
    """Each request encodes to exactly the expected JSON bytes in its dialect."""
    assert encode_request(request_, dialect) == expected.encode("utf-8")


def test_sdk_body_string_holds_the_documented_body() -> None:
    """The SDK dialect's body string decodes to the documented dialect's object."""
    documented = json.loads(encode_request(FULL_NEW, WireDialect.DOCUMENTED))
    sdk = json.loads(encode_request(FULL_NEW, WireDialect.SDK))

    assert isinstance(sdk["body"], str)
    assert json.loads(sdk["body"]) == documented["body"]


@pytest.mark.parametrize("dialect", list(WireDialect))
def test_unset_optional_fields_are_omitted(dialect: WireDialect) -> None:
    """No id, profile or ipAddress key is sent when they are unset, nor any null."""
    data = json.loads(encode_request(MINIMAL_NEW, dialect))
    body = (
        data["body"] if dialect is WireDialect.DOCUMENTED else json.loads(data["body"])
    )

    assert "id" not in data
    assert not {"profile", "ipAddress"} & body.keys()
    assert None not in data.values()
    assert None not in body.values()


@pytest.mark.parametrize("dialect", list(WireDialect))
def test_flags_are_real_json_booleans(dialect: WireDialect) -> None:
    """enableQRCode and enableAutoVerify are JSON true/false, not strings or 0/1."""
    data = json.loads(encode_request(FULL_NEW, dialect))
    body = (
        data["body"] if dialect is WireDialect.DOCUMENTED else json.loads(data["body"])
    )

    assert body["enableQRCode"] is False
    assert body["enableAutoVerify"] is True
    assert data["type"] == 150
    assert isinstance(data["type"], int)


def test_non_ascii_address_is_sent_as_utf8() -> None:
    """A non-ASCII e-mail address travels as UTF-8 text, not \\u escapes."""
    request_ = ApiRequest(
        utctime=UTCTIME,
        api_user=API_USER,
        type=RequestType.CHALLENGE_NEW,
        body=NewChallenge(gridy_user="jörg@example.com"),
    )

    encoded = encode_request(request_, WireDialect.DOCUMENTED)

    assert "jörg@example.com".encode() in encoded
    assert b"\\u" not in encoded


# --- Responses -----------------------------------------------------------


def _read(body: object, http_status: int = 202) -> ApiResponse:
    return decode_response(http_status, json.dumps(body).encode("utf-8"))


ACCEPTED_MESSAGE = {"challengeId": "ch-1", "challengeQRcodeUrl": "https://q/1"}
# Valid JSON nested far deeper than Python's json module can follow.
DEEP_JSON_TEXT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {
                "id": "srv-1",
                "utctime": UTCTIME,
                "status": 202,
                "code": 2025,
                "message": ACCEPTED_MESSAGE,
                "moreinfo": "https://support.gridy.io/status?code=2025",
            },
            {
                "server_id": "srv-1",
                "utctime": UTCTIME,
                "status": 202,
                "code": 2025,
                "message": ACCEPTED_MESSAGE,
                "more_info": "https://support.gridy.io/status?code=2025",
            },
            id="documented-keys",
        ),
        pytest.param(
            {"utcTime": UTCTIME, "code": 2025, "moreInfo": "https://m/1"},
            {"utctime": UTCTIME, "code": 2025, "more_info": "https://m/1"},
            id="sdk-keys",
        ),
        pytest.param(
            {"code": 2025, "more info": "https://m/2"},
            {"code": 2025, "more_info": "https://m/2", "utctime": None},
            id="more-info-with-space",
        ),
        pytest.param(
            {"code": 2025, "utctime": str(UTCTIME)},
            {"utctime": UTCTIME},
            id="utctime-ms-string",
        ),
        pytest.param(
            {"code": 2025, "utctime": float(UTCTIME)},
            {"utctime": UTCTIME},
            id="utctime-ms-float",
        ),
        pytest.param(
            {"code": 2025, "utctime": "2024-12-20T22:15:19.817Z"},
            {"utctime": UTCTIME},
            id="utctime-iso-z",
        ),
        pytest.param(
            {"code": 2025, "utcTime": "2024-12-20T23:15:19.817+01:00"},
            {"utctime": UTCTIME},
            id="utctime-iso-offset",
        ),
        pytest.param(
            {"code": 2025, "utctime": "2024-12-20T17:15:19.817-05:00"},
            {"utctime": UTCTIME},
            id="utctime-iso-negative-offset",
        ),
        pytest.param(
            {"code": 2025, "utctime": "yesterday"},
            {"utctime": None, "code": 2025},
            id="utctime-unreadable-is-dropped",
        ),
        pytest.param(
            {"code": 2025, "utctime": float("nan")},
            {"utctime": None, "code": 2025},
            id="utctime-nan-is-dropped",
        ),
        pytest.param(
            {"code": 2025, "utcTime": float("inf")},
            {"utctime": None, "code": 2025},
            id="utctime-infinity-is-dropped",
        ),
        pytest.param(
            {"code": 2025, "utctime": "\u00b2"},
            {"utctime": None, "code": 2025},
            id="utctime-unicode-digit-is-dropped",
        ),
        pytest.param(
            {"code": -5075, "message": DEEP_JSON_TEXT},
            {"code": -5075, "message": DEEP_JSON_TEXT},
            id="message-too-deep-to-parse-stays-text",
        ),
        pytest.param(
            {"code": 2025, "message": json.dumps(ACCEPTED_MESSAGE)},
            {"message": ACCEPTED_MESSAGE},
            id="message-json-inside-string",
        ),
        pytest.param(
            {"code": -2035, "message": "BAD REQUEST :- CHALLENGE CANCELLED ERROR"},
            {"code": -2035, "message": "BAD REQUEST :- CHALLENGE CANCELLED ERROR"},
            id="message-plain-text",
        ),
        pytest.param(
            {"code": -5075, "message": "{not json"},
            {"code": -5075, "message": "{not json"},
            id="message-brace-text-stays-text",
        ),
        pytest.param(
            {"status": 2025, "code": 202, "message": ACCEPTED_MESSAGE},
            {"status": 202, "code": 2025, "message": ACCEPTED_MESSAGE},
            id="status-and-code-swapped",
        ),
        pytest.param(
            {"status": -2035, "code": 400},
            {"status": 400, "code": -2035},
            id="status-and-code-swapped-error",
        ),
        pytest.param(
            {"code": "2025", "status": "202"},
            {"code": 2025, "status": 202},
            id="code-numeric-string",
        ),
        pytest.param(
            {"code": " -2035 "},
            {"code": -2035, "status": None},
            id="negative-code-string",
        ),
        pytest.param(
            {"id": 77, "code": 2025},
            {"server_id": "77"},
            id="numeric-id",
        ),
    ],
)
def test_every_response_shape_is_read(
    body: Mapping[str, Any], expected: Mapping[str, Any]
) -> None:
    """Every response spelling FACTS.md lists decodes to the same fields."""
    response = _read(body)

    assert response.http_status == 202
    assert json.dumps(response.raw) == json.dumps(body)  # NaN != NaN
    for name, value in expected.items():
        assert getattr(response, name) == value, name


@pytest.mark.parametrize("body", [b"", b"  \r\n\t "])
def test_empty_body_is_an_invalid_response(body: bytes) -> None:
    """An empty body raises InvalidResponseError with the HTTP status."""
    with pytest.raises(InvalidResponseError) as caught:
        decode_response(502, body)

    assert caught.value.http_status == 502
    assert caught.value.snippet == ""


def test_json_too_deep_to_parse_is_an_invalid_response() -> None:
    """JSON nested too deep to parse is InvalidResponseError, not RecursionError."""
    with pytest.raises(InvalidResponseError) as caught:
        decode_response(200, DEEP_JSON_TEXT.encode())

    assert caught.value.http_status == 200
    assert caught.value.snippet == DEEP_JSON_TEXT[:200]


def test_non_json_body_is_an_invalid_response_with_a_snippet() -> None:
    """A proxy's HTML page raises InvalidResponseError carrying its start."""
    page = b"<html><body>502 Bad Gateway</body></html>" + b"x" * 500

    with pytest.raises(InvalidResponseError) as caught:
        decode_response(502, page)

    assert caught.value.http_status == 502
    assert caught.value.snippet is not None
    assert caught.value.snippet.startswith("<html><body>502 Bad Gateway")
    assert len(caught.value.snippet) <= 200
    assert "502" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"[1, 2]", "$", id="json-array"),
        pytest.param(b'"text"', "$", id="json-string"),
        pytest.param(b"42", "$", id="json-number"),
        pytest.param(b'{"status": 202, "message": {}}', "code", id="missing-code"),
        pytest.param(b'{"code": true}', "code", id="code-true"),
        pytest.param(b'{"code": null}', "code", id="code-null"),
        pytest.param(b'{"code": "2025x"}', "code", id="code-not-a-number"),
        pytest.param(b'{"code": 20.25}', "code", id="code-float"),
        pytest.param(b'{"code": 2025, "status": "Accepted"}', "status", id="status"),
        pytest.param(b'{"code": 2025, "message": [1]}', "message", id="message-list"),
        pytest.param(b'{"code": 2025, "id": [1]}', "id", id="id-list"),
        pytest.param(b'{"code": 2025, "moreInfo": {}}', "moreInfo", id="more-info"),
    ],
)
def test_json_of_the_wrong_shape_is_a_decode_error(body: bytes, field: str) -> None:
    """JSON that is not a readable response raises DecodeError naming the field."""
    with pytest.raises(DecodeError) as caught:
        decode_response(400, body)

    assert caught.value.field == field
    assert caught.value.http_status == 400
    if field != "$":
        assert repr(field) in str(caught.value)


# --- Results and the QR code -----------------------------------------------


def test_valid_qr_data_url_decodes_to_the_png() -> None:
    """A base64 PNG data URL decodes to exactly the PNG's bytes."""
    assert decode_qr_data_url(PNG_URL) == PNG


def test_wrapped_and_upper_case_qr_data_url_decodes() -> None:
    """Line-wrapped base64 and an upper-case prefix are accepted."""
    payload = base64.encodebytes(PNG).decode("ascii")  # wraps at 76 columns

    assert decode_qr_data_url(PREFIX.upper() + payload) == PNG


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(PNG_URL[:40] + "!*%" + PNG_URL[40:], id="garbage-characters"),
        pytest.param(PNG_URL[:-1] + "-", id="url-safe-alphabet"),
        pytest.param(PNG_URL[:-2], id="bad-padding"),
        pytest.param(PNG_URL.replace("image/png", "image/jpeg"), id="wrong-type"),
        pytest.param(PNG_URL.replace(";base64", ""), id="not-base64-url"),
        pytest.param("https://q.gridy.io/ch-1.png", id="plain-link"),
        pytest.param(
            PREFIX + base64.b64encode(b"GIF89a\x01\x00\x01\x00").decode(),
            id="gif-payload",
        ),
        pytest.param(PREFIX, id="empty-payload"),
    ],
)
def test_bad_qr_data_url_is_a_decode_error(value: str) -> None:
    """A QR code that is not a base64 PNG data URL raises DecodeError."""
    with pytest.raises(DecodeError) as caught:
        decode_qr_data_url(value, http_status=202)

    assert caught.value.field == "message.challengeQRcode"
    assert caught.value.http_status == 202


def _accepted(message: object) -> ApiResponse:
    return _read({"id": "srv-9", "code": 2025, "status": 202, "message": message})


def test_accepted_result_carries_id_url_and_png() -> None:
    """A 2025 answer becomes ChallengeAccepted with the decoded PNG."""
    message = {**ACCEPTED_MESSAGE, "challengeQRcode": PNG_URL}

    accepted = read_challenge_accepted(_accepted(message))

    assert accepted.challenge_id == "ch-1"
    assert accepted.qr_code_url == "https://q/1"
    assert accepted.qr_code_png == PNG
    assert accepted.server_id == "srv-9"
    assert accepted.raw["message"] == message
    assert f"<{len(PNG)} bytes of PNG>" in repr(accepted)


def test_accepted_without_qr_code_has_no_png() -> None:
    """With enableQRCode false only the URL comes back, and png is None."""
    accepted = read_challenge_accepted(_accepted({"challengeId": "ch-2"}))

    assert accepted.challenge_id == "ch-2"
    assert accepted.qr_code_png is None
    assert accepted.qr_code_url is None


def test_accepted_reads_a_message_inside_a_string() -> None:
    """A 2025 message sent as JSON text is read like an object."""
    message = json.dumps({**ACCEPTED_MESSAGE, "challengeQRcode": PNG_URL})

    accepted = read_challenge_accepted(_accepted(message))

    assert accepted.challenge_id == "ch-1"
    assert accepted.qr_code_png == PNG


@pytest.mark.parametrize(
    ("message", "field"),
    [
        pytest.param("ACCEPTED", "message", id="message-text"),
        pytest.param(None, "message", id="message-missing"),
        pytest.param({"challengeQRcodeUrl": "u"}, "message.challengeId", id="no-id"),
        pytest.param({"challengeId": ""}, "message.challengeId", id="empty-id"),
        pytest.param({"challengeId": 5}, "message.challengeId", id="numeric-id"),
        pytest.param(
            {"challengeId": "c", "challengeQRcode": 5},
            "message.challengeQRcode",
            id="qr-not-text",
        ),
        pytest.param(
            {"challengeId": "c", "challengeQRcode": PNG_URL + "@@"},
            "message.challengeQRcode",
            id="qr-garbage",
        ),
    ],
)
def test_unreadable_accepted_message_is_a_decode_error(
    message: object, field: str
) -> None:
    """A 2025 answer without a usable message raises DecodeError naming the field."""
    with pytest.raises(DecodeError) as caught:
        read_challenge_accepted(_accepted(message))

    assert caught.value.field == field
    assert caught.value.http_status == 202


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ({"status": "CANCELLED"}, "CANCELLED"),
        ({"Status": "CANCELED"}, "CANCELED"),
        ('{"status":"CANCELLED"}', "CANCELLED"),
        ("CANCELLED OK", "CANCELLED"),
        (None, "CANCELLED"),
    ],
)
def test_cancelled_result(message: object, status: str) -> None:
    """A 2028 answer becomes ChallengeCancelled for the id that was cancelled."""
    response = _read({"id": "srv-3", "code": 2028, "message": message})

    cancelled = read_challenge_cancelled(response, "ch-5")

    assert cancelled.challenge_id == "ch-5"
    assert cancelled.status == status
    assert cancelled.server_id == "srv-3"
