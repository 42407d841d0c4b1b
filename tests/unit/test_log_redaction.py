"""The last structlog processor masks anything shaped like a credential: ``hr_…`` API keys and
``whsec_…`` webhook secrets inside any string, and fields named like secrets entirely."""

from __future__ import annotations

from collections import namedtuple

import pytest

from hookrelay.domain.api_keys import generate_api_key
from hookrelay.domain.signing import generate_secret
from hookrelay.logging import redact_secrets

API_KEY = "hr_Zk3x9QmB2vL7pR1tY8wE4uI6oA0sD5fG-hJ_kLcVbNm"
WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+/abc="


def redact(event: dict) -> dict:
    return redact_secrets(None, "info", event)


def _no_secret_anywhere(value: object, *secrets: str) -> None:
    text = repr(value)
    for secret in secrets:
        assert secret not in text
        # nor any long tail of it
        assert secret[-12:] not in text


# --- shapes inside strings -------------------------------------------------------------------


def test_api_key_in_a_string_is_masked() -> None:
    out = redact({"event": f"using key {API_KEY} for app"})
    assert out["event"] == "using key hr_*** for app"


def test_webhook_secret_in_a_string_is_masked() -> None:
    out = redact({"event": "rotated", "detail": f"new secret {WH_SECRET} stored"})
    assert out["detail"] == "new secret whsec_*** stored"
    assert out["event"] == "rotated"


def test_generated_credentials_are_masked() -> None:
    for _ in range(50):
        key, secret = generate_api_key(), generate_secret()
        out = redact({"event": f"{key} / {secret}"})
        assert out["event"] == "hr_*** / whsec_***"


def test_bearer_header_value_is_masked() -> None:
    out = redact({"header": f"Bearer {API_KEY}"})
    assert out["header"] == "Bearer hr_***"


def test_several_secrets_in_one_string() -> None:
    out = redact({"msg": f"{API_KEY},{WH_SECRET};{API_KEY}"})
    assert out["msg"] == "hr_***,whsec_***;hr_***"


def test_secret_inside_json_text_and_url() -> None:
    out = redact(
        {
            "body": f'{{"key":"{API_KEY}","secret_hint":"{WH_SECRET}"}}',
            "url": f"https://api.example.com/v1/x?token={API_KEY}&y=1",
        }
    )
    assert out["body"] == '{"key":"hr_***","secret_hint":"whsec_***"}'
    assert out["url"] == "https://api.example.com/v1/x?token=hr_***&y=1"


def test_secret_at_start_and_end_of_string() -> None:
    assert redact({"v": API_KEY})["v"] == "hr_***"
    assert redact({"v": WH_SECRET})["v"] == "whsec_***"


# --- nested containers -----------------------------------------------------------------------


def test_secrets_in_nested_dicts_and_lists_are_masked() -> None:
    event = {
        "event": "request",
        "request": {
            "headers": {"x-custom": f"token {API_KEY}", "content-type": "application/json"},
            "params": [{"note": WH_SECRET}, "plain", [f"deep {API_KEY}"]],
        },
        "keys": [API_KEY, WH_SECRET],
        "pair": (API_KEY, 1),
    }
    out = redact(event)
    assert out["request"]["headers"]["x-custom"] == "token hr_***"
    assert out["request"]["headers"]["content-type"] == "application/json"
    assert out["request"]["params"] == [{"note": "whsec_***"}, "plain", ["deep hr_***"]]
    assert out["keys"] == ["hr_***", "whsec_***"]
    assert out["pair"] == ("hr_***", 1)
    assert isinstance(out["pair"], tuple)
    _no_secret_anywhere(out, API_KEY, WH_SECRET)


def test_input_event_dict_is_not_mutated() -> None:
    inner = {"k": API_KEY}
    event = {"event": "x", "inner": inner, "list": [API_KEY]}
    redact(event)
    assert inner == {"k": API_KEY}
    assert event["list"] == [API_KEY]


# --- fields named like secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["authorization", "Authorization", "AUTHORIZATION", "api_key", "API_KEY", "secret", "Secret",
     "admin_token", "secret_key", "password"],
)
def test_secret_field_is_masked_entirely(field: str) -> None:
    out = redact({"event": "x", field: "Basic dXNlcjpwYXNz"})
    assert out[field] == "***"
    assert out["event"] == "x"


@pytest.mark.parametrize("field", ["authorization", "Authorization", "api_key", "secret"])
def test_nested_secret_field_is_masked_entirely(field: str) -> None:
    out = redact({"headers": {field: "anything-at-all", "accept": "*/*"}, "list": [{field: 12345}]})
    assert out["headers"][field] == "***"
    assert out["headers"]["accept"] == "*/*"
    assert out["list"] == [{field: "***"}]


def test_secret_field_masked_whatever_its_value_type() -> None:
    out = redact({"secret": {"nested": "value"}, "api_key": ["a", "b"], "authorization": None})
    assert out == {"secret": "***", "api_key": "***", "authorization": "***"}


# --- ordinary values untouched ---------------------------------------------------------------


def test_ordinary_values_untouched() -> None:
    event = {
        "event": "job.completed",
        "job_id": "job_01JD5Z3Q7W8X9Y0ABCDEFGHJKM",
        "app_id": "app_01JD0000000000000000000000",
        "status": 200,
        "elapsed": 0.25,
        "ok": True,
        "missing": None,
        "tags": ["a", "b"],
        "headers": {"content-type": "application/json", "user-agent": "hookrelay/0.1"},
        "raw": b"hr_abcdefghijkl",
    }
    assert redact(event) == event


@pytest.mark.parametrize(
    "text",
    [
        "hr_abc",  # too short to be a key
        "whsec_12",  # too short to be a secret
        "xhr_abcdefghijk",  # not at a word boundary
        "the_hr_department_abcdef",  # 'hr_' inside a word
        "throughput: 120 hr",
        "secret rotation scheduled",
        "webhook secret rotated for ep_01JD0000000000000000000000",
    ],
)
def test_lookalikes_untouched(text: str) -> None:
    assert redact({"event": text}) == {"event": text}


def test_keys_only_masked_by_exact_name() -> None:
    event = {"secret_rotation_grace": "24h", "api_url": "http://x", "key_id": "key_123"}
    assert redact(event) == event


def test_namedtuple_value_does_not_crash_logging() -> None:
    Point = namedtuple("Point", ["x", "y"])
    out = redact({"event": "moved", "point": Point(API_KEY, 2)})
    assert out["point"] == ("hr_***", 2)
