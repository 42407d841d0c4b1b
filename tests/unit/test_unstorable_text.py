"""refuse_unstorable_text: U+0000 anywhere in JSON is refused with a 422; the six characters
``\\u0000`` written as text are not U+0000 and pass."""

from __future__ import annotations

import msgspec
import pytest

from hookrelay.api.params import refuse_unstorable_text
from hookrelay.errors import Unprocessable


@pytest.mark.parametrize("value", ["a\x00", {"k\x00": 1}, ["x", "\\\x00"], "\\u0000 then \x00"])
def test_u0000_is_refused_naming_the_field(value) -> None:
    with pytest.raises(Unprocessable) as raised:
        refuse_unstorable_text("data", msgspec.json.encode({"v": value}))
    assert raised.value.code == "unstorable_text"
    assert "data" in str(raised.value)


@pytest.mark.parametrize("value", ["\\u0000", "\\\\u0000", "plain", {"\\u0000": "ok"}])
def test_the_text_of_an_escape_is_not_u0000(value) -> None:
    refuse_unstorable_text("data", msgspec.json.encode({"v": value}))
