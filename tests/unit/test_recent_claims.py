"""``RecentClaims``: which ids a message still needs a claim for."""

from __future__ import annotations

import pytest

from hookrelay.delivery.recent_claims import RecentClaims


def test_ids_leased_after_the_message_was_sent_need_no_claim():
    claims = RecentClaims()
    claims.remember(["dlv_a", "dlv_b"], leased_at=100.0)
    assert claims.not_leased_since(["dlv_a", "dlv_b", "dlv_c"], sent_at=99.0) == ["dlv_c"]


def test_a_message_sent_at_or_after_the_lease_still_claims():
    # A retry's follow-up, a replay or a scheduler re-send is sent after the lease it follows.
    claims = RecentClaims()
    claims.remember(["dlv_a"], leased_at=100.0)
    assert claims.not_leased_since(["dlv_a"], sent_at=100.0) == ["dlv_a"]
    assert claims.not_leased_since(["dlv_a"], sent_at=100.5) == ["dlv_a"]
    # Sent in the same millisecond as the lease (message times are rounded down to it).
    assert claims.not_leased_since(["dlv_a"], sent_at=99.9995) == ["dlv_a"]


def test_a_later_lease_of_the_same_id_answers_messages_sent_before_it():
    claims = RecentClaims()
    claims.remember(["dlv_a"], leased_at=100.0)
    claims.remember(["dlv_a"], leased_at=200.0)
    assert claims.not_leased_since(["dlv_a"], sent_at=150.0) == []


def test_past_capacity_the_oldest_are_forgotten_and_claim_again():
    claims = RecentClaims(capacity=4)
    claims.remember(["dlv_1", "dlv_2", "dlv_3", "dlv_4"], leased_at=10.0)
    claims.remember(["dlv_1"], leased_at=11.0)  # leased again: now the youngest
    claims.remember(["dlv_5"], leased_at=12.0)
    assert len(claims) <= 4
    still_known = {"dlv_1", "dlv_5"}
    ids = ["dlv_1", "dlv_2", "dlv_3", "dlv_4", "dlv_5"]
    needing_claim = claims.not_leased_since(ids, sent_at=0.0)
    assert still_known.isdisjoint(needing_claim)
    assert "dlv_2" in needing_claim  # the oldest went first


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        RecentClaims(capacity=0)
