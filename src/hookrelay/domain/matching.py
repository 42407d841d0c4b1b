"""Which endpoints want which events: event-type names and subscription patterns.

An event type is 1–128 ASCII letters, digits, ``.``, ``_`` or ``-`` (SPEC §5), e.g.
``invoice.paid``. An endpoint subscribes with ``event_types`` patterns:

* an exact type, ``invoice.paid``;
* a type followed by one trailing ``*``, a plain string prefix: ``job.*`` matches
  ``job.completed`` and ``job.failed`` but not ``job`` or ``jobs.x``; ``job*`` would
  match ``jobs.x`` too;
* ``*`` alone, everything (the default).

There is no ``*`` anywhere else: patterns stay a prefix test, cheap to evaluate for every
event × endpoint and impossible to make pathological. Only ASCII is allowed so that two
types that look the same are the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "MATCH_ALL",
    "MAX_EVENT_TYPE_LENGTH",
    "is_valid_event_type",
    "is_valid_pattern",
    "matches",
]

MAX_EVENT_TYPE_LENGTH = 128
MATCH_ALL = "*"
_WILDCARD = "*"
_EVENT_TYPE = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_EVENT_TYPE_LENGTH)


def is_valid_event_type(value: object) -> bool:
    """True for 1–128 characters drawn from ASCII letters, digits, ``.``, ``_`` and ``-``."""
    return isinstance(value, str) and _EVENT_TYPE.fullmatch(value) is not None


def is_valid_pattern(value: object) -> bool:
    """True for ``*``, a valid event type, or a valid event type plus one trailing ``*``."""
    if not isinstance(value, str):
        return False
    if value == MATCH_ALL:
        return True
    if value.endswith(_WILDCARD):
        return is_valid_event_type(value[: -len(_WILDCARD)])
    return is_valid_event_type(value)


def _pattern_matches(pattern: str, event_type: str) -> bool:
    if pattern == MATCH_ALL:
        return True
    if pattern.endswith(_WILDCARD):
        return event_type.startswith(pattern[: -len(_WILDCARD)])
    return event_type == pattern


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """True when any of ``patterns`` selects ``event_type``.

    Matching is case-sensitive and exact, like the type names themselves. An empty pattern
    list matches nothing (the API turns a missing list into ``["*"]``). Patterns are assumed
    validated when stored; an invalid one simply matches nothing it would not match literally.
    """
    return any(_pattern_matches(pattern, event_type) for pattern in patterns)
