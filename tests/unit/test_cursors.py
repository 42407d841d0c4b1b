"""Opaque signed list cursors (SPEC §3): a round trip works; a tampered cursor, one made for
another list, another application or under another secret key is a 400 ``invalid_cursor``."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from hookrelay.errors import BadRequest
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT, CursorCodec, page

KEY = "test-secret-key-0123456789"
APP = "app_01JD0000000000000000000000"
OTHER_APP = "app_01JD0000000000000000000001"
LAST = "job_01JD5Z3Q7W8X9Y0ABCDEFGHJKM"


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(KEY)


def _assert_invalid_cursor(
    codec: CursorCodec, cursor: str, *, listing: str = "jobs", app_id: str = APP
) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        codec.decode(cursor, listing=listing, app_id=app_id)
    assert info.value.code == "invalid_cursor"
    assert info.value.status == 400
    return info.value


def test_limits_match_spec() -> None:
    assert DEFAULT_LIMIT == 50
    assert MAX_LIMIT == 500


def test_round_trip(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    assert codec.decode(cursor, listing="jobs", app_id=APP) == LAST


@pytest.mark.parametrize("listing", ["jobs", "events", "deliveries", "endpoints", "attempts"])
def test_round_trip_for_each_listing(codec: CursorCodec, listing: str) -> None:
    cursor = codec.encode(listing=listing, app_id=APP, last_id=LAST)
    assert codec.decode(cursor, listing=listing, app_id=APP) == LAST


def test_round_trip_with_a_fresh_codec_on_the_same_key() -> None:
    cursor = CursorCodec(KEY).encode(listing="jobs", app_id=APP, last_id=LAST)
    assert CursorCodec(KEY).decode(cursor, listing="jobs", app_id=APP) == LAST


def test_cursor_is_url_safe_and_opaque(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    assert isinstance(cursor, str)
    assert all(c.isalnum() or c in "-_." for c in cursor)
    # Opaque: the raw ids are not readable in it.
    assert LAST not in cursor
    assert APP not in cursor


def test_different_last_ids_give_different_cursors(codec: CursorCodec) -> None:
    a = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    b = codec.encode(listing="jobs", app_id=APP, last_id=LAST[:-1] + "N")
    assert a != b


def test_tampered_cursor_flip_one_character(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    i = len(cursor) // 3
    flipped = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]
    assert flipped != cursor
    _assert_invalid_cursor(codec, flipped)


def test_tampering_any_character_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    # The last character of the base64 signature carries padding bits, so a change there may
    # decode to the same signature; every other position must be covered by the signature.
    for i in range(len(cursor) - 1):
        for replacement in ("A", "z", "-"):
            if cursor[i] == replacement:
                continue
            tampered = cursor[:i] + replacement + cursor[i + 1 :]
            _assert_invalid_cursor(codec, tampered)


def test_forged_payload_with_original_signature_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    _, _, signature = cursor.rpartition(".")
    forged_payload = URLSafeSerializer("guess", salt="hookrelay.cursor").dumps(
        {"l": "jobs", "a": APP, "i": "job_00000000000000000000000000"}
    ).rpartition(".")[0]
    _assert_invalid_cursor(codec, f"{forged_payload}.{signature}")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "x",
        ".",
        "....",
        "a.b.c",
        "not-a-cursor",
        "abc.def",
        "abc.d",  # signature part not valid base64 (length 1 mod 4)
        "abc.de=fg",
        "%%%.%%%",
        "e30.AAAA",
        "null",
        "😀",
        "a" * 500,
    ],
)
def test_garbage_cursor_refused(codec: CursorCodec, garbage: str) -> None:
    _assert_invalid_cursor(codec, garbage)


def test_truncated_cursor_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=APP, last_id=LAST)
    _assert_invalid_cursor(codec, cursor[:-4])
    _assert_invalid_cursor(codec, cursor[4:])
    _assert_invalid_cursor(codec, cursor + "x")


def test_cursor_from_another_app_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="jobs", app_id=OTHER_APP, last_id=LAST)
    _assert_invalid_cursor(codec, cursor, app_id=APP)
    # and the owner can still use it
    assert codec.decode(cursor, listing="jobs", app_id=OTHER_APP) == LAST


def test_cursor_from_another_listing_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(listing="events", app_id=APP, last_id=LAST)
    _assert_invalid_cursor(codec, cursor, listing="jobs")
    _assert_invalid_cursor(codec, cursor, listing="deliveries")


def test_cursor_from_another_secret_key_refused() -> None:
    cursor = CursorCodec("another-secret-key").encode(listing="jobs", app_id=APP, last_id=LAST)
    _assert_invalid_cursor(CursorCodec(KEY), cursor)


def test_cursor_signed_with_same_key_but_another_salt_refused() -> None:
    # A token signed by some other feature (e.g. sessions) must not be accepted as a cursor.
    session_signer = URLSafeSerializer(KEY, salt="hookrelay.session")
    token = session_signer.dumps({"l": "jobs", "a": APP, "i": LAST})
    _assert_invalid_cursor(CursorCodec(KEY), token)


@pytest.mark.parametrize(
    "payload",
    [
        ["jobs", APP, LAST],
        {"l": "jobs", "a": APP},
        {"l": "jobs", "a": APP, "i": 123},
        {"l": "jobs", "a": APP, "i": None},
        {"l": "jobs", "i": LAST},
        "just a string",
    ],
    ids=["list", "no-id", "int-id", "null-id", "no-app", "string"],
)
def test_validly_signed_but_malformed_payload_refused(payload: object) -> None:
    token = URLSafeSerializer(KEY, salt="hookrelay.cursor").dumps(payload)
    _assert_invalid_cursor(CursorCodec(KEY), token)


def test_bad_request_message_does_not_echo_cursor(codec: CursorCodec) -> None:
    error = _assert_invalid_cursor(codec, "not-a-cursor")
    assert "not-a-cursor" not in error.detail


# --- page() ----------------------------------------------------------------------------------


def test_page_with_one_extra_row_has_more() -> None:
    rows = list(range(51))
    data, more = page(rows, 50)
    assert data == list(range(50))
    assert more is True


def test_page_exactly_limit_has_no_more() -> None:
    rows = list(range(50))
    data, more = page(rows, 50)
    assert data == rows
    assert more is False


def test_page_fewer_than_limit() -> None:
    data, more = page([1, 2, 3], 50)
    assert data == [1, 2, 3]
    assert more is False


def test_page_empty() -> None:
    assert page([], 50) == ([], False)


def test_page_limit_one() -> None:
    assert page(["a", "b"], 1) == (["a"], True)
    assert page(["a"], 1) == (["a"], False)


def test_page_keeps_order_and_does_not_mutate_input() -> None:
    rows = ["c", "a", "b", "d"]
    data, more = page(rows, 3)
    assert data == ["c", "a", "b"]
    assert more is True
    assert rows == ["c", "a", "b", "d"]
