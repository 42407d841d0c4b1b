"""Idempotency-Key fingerprints (SPEC §3): the same body however it is spaced or ordered gives
the same fingerprint; a different body or a different route does not."""

from __future__ import annotations

import hashlib
import json

import pytest

from hookrelay.domain.idempotency import MAX_KEY_LENGTH, fingerprint, is_valid_key

SCOPE = "POST /v1/jobs"


def test_fingerprint_is_sha256_hex() -> None:
    fp = fingerprint(SCOPE, {"a": 1})
    assert len(fp) == 64
    int(fp, 16)
    assert fp == fp.lower()


def test_fingerprint_is_deterministic() -> None:
    body = {"type": "demo.echo", "input": {"x": 1}}
    assert fingerprint(SCOPE, body) == fingerprint(SCOPE, dict(body))


def test_fingerprint_matches_documented_construction() -> None:
    # SHA-256 over the scope, a newline and the canonical (sorted, compact) JSON.
    expected = hashlib.sha256(b'POST /v1/jobs\n{"a":1,"b":[1,2]}').hexdigest()
    assert fingerprint(SCOPE, {"b": [1, 2], "a": 1}) == expected


def test_differently_spaced_and_ordered_json_text_gives_same_fingerprint() -> None:
    compact = (
        '{"type":"report.generate","input":{"month":"2026-11","rows":[1,2,3]},'
        '"metadata":{"a":"b"}}'
    )
    spaced = """
    {
        "metadata" : { "a" : "b" },
        "input"    : {
            "rows"  : [ 1, 2, 3 ],
            "month" : "2026-11"
        },
        "type"     : "report.generate"
    }
    """
    assert compact != spaced
    assert fingerprint(SCOPE, json.loads(compact)) == fingerprint(SCOPE, json.loads(spaced))


def test_escaped_and_literal_unicode_give_same_fingerprint() -> None:
    escaped = '{"name": "caf\\u00e9 \\ud83d\\ude00"}'
    literal = '{"name":"café 😀"}'
    assert fingerprint(SCOPE, json.loads(escaped)) == fingerprint(SCOPE, json.loads(literal))


def test_key_order_does_not_matter() -> None:
    a = {"a": 1, "b": 2, "c": 3}
    b = {"c": 3, "a": 1, "b": 2}
    assert list(a) != list(b)
    assert fingerprint(SCOPE, a) == fingerprint(SCOPE, b)


def test_nested_dict_ordering_does_not_matter() -> None:
    a = {"outer": {"x": 1, "y": {"p": [{"k": 1, "j": 2}], "q": None}}, "z": True}
    b = {"z": True, "outer": {"y": {"q": None, "p": [{"j": 2, "k": 1}]}, "x": 1}}
    assert fingerprint(SCOPE, a) == fingerprint(SCOPE, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"b": 1}),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": [1, 2]}, {"a": [2, 1]}),  # list order is significant
        ({"a": "1"}, {"a": 1}),
        ({"a": None}, {}),
        ({"a": True}, {"a": 1}),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": None}}),
        ({"a": "x"}, {"a": "x "}),
        ({}, []),
    ],
)
def test_different_body_gives_different_fingerprint(a: object, b: object) -> None:
    assert fingerprint(SCOPE, a) != fingerprint(SCOPE, b)


def test_different_scope_gives_different_fingerprint() -> None:
    body = {"type": "demo.echo", "input": {}}
    assert fingerprint("POST /v1/jobs", body) != fingerprint("POST /v1/events", body)
    assert fingerprint("app_1:POST /v1/jobs", body) != fingerprint("app_2:POST /v1/jobs", body)


# --- is_valid_key ----------------------------------------------------------------------------


def test_max_key_length() -> None:
    assert MAX_KEY_LENGTH == 255


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "k" * 255,
        "550e8400-e29b-41d4-a716-446655440000",
        "order-42:attempt 1",
        "with spaces and symbols !@#$%^&*()",
    ],
)
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key)


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "k" * 1000, "line\nbreak", "tab\there", "nul\x00", "bell\x07", "\r"],
)
def test_invalid_keys(key: str) -> None:
    assert not is_valid_key(key)
