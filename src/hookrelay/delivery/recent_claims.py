"""Which deliveries this worker process leased lately, and when: so that a ``deliver``
message that asks for work already done here is answered without a database round trip.

A claim tops its batch up with other due deliveries (``fill_to``), and those deliveries still
have their own messages waiting in the queue. Each of those messages used to cost a claim
statement that found nothing: after a drain of 20,000 one-event messages, about 19,000 were
still queued and took both cores 28–31 s (51–54 CPU-seconds) to get through; answered from
here when this process leased their deliveries, 18 s (32 CPU-seconds), with the drain itself
as fast as before (``python -m bench.cpu_split drain --leftover``).

The rule that makes skipping safe: a message asks "attempt these deliveries if they are due".
If this process leased a delivery *after* the message was sent and recorded what came of it,
that lease answered the message. (The dispatcher remembers a batch only once its outcomes are
written: a batch that failed before leaves its leases to expire, and older messages must still
claim those deliveries.) Whatever later makes the delivery due again sends a message of its
own, stamped later than the lease: a retry's follow-up, a replay, the scheduler's re-send. A
message sent before the lease is the only kind that is skipped. Message times come from the
sender's clock and lease times from this process's; a sender whose clock runs behind by more
than the time between a lease and a replay of the same delivery could have that replay
skipped, and then the scheduler's re-send of due deliveries no worker took delivers it, after
``DELIVERY_RESEND_QUIET_PERIOD`` (``BUSY_RESEND_QUIET_PERIOD`` while many messages wait): a
delay, never a loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

# About 100 bytes an entry: a few MB at most per worker process.
DEFAULT_CAPACITY = 16_384
# Message times are whole milliseconds, rounded down: a lease within the same millisecond may
# have come before the send.
SEND_TIME_RESOLUTION = 0.001


class RecentClaims:
    """Delivery id -> when this process last leased it (seconds since the epoch). Past
    ``capacity`` ids the oldest quarter is forgotten: their messages then take the claim."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._leased_at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._leased_at)

    def remember(self, delivery_ids: Iterable[str], leased_at: float) -> None:
        leased = self._leased_at
        for delivery_id in delivery_ids:
            leased.pop(delivery_id, None)  # to the young end, so it is forgotten last
            leased[delivery_id] = leased_at
        if len(leased) > self.capacity:
            # A quarter at a time, so that a full memory does not pay this on every claim.
            for delivery_id in list(islice(leased, len(leased) - self.capacity * 3 // 4)):
                del leased[delivery_id]

    def not_leased_since(self, delivery_ids: list[str], sent_at: float) -> list[str]:
        """The ids this process has not leased after ``sent_at``: the ones a message sent
        then still needs a claim for."""
        leased, answered_after = self._leased_at, sent_at + SEND_TIME_RESOLUTION
        return [delivery_id for delivery_id in delivery_ids if leased.get(delivery_id, 0.0) <= answered_after]
