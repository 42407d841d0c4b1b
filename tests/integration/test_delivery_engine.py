"""The delivery engine on real PostgreSQL with a real local receiver: fan-out atomicity,
racing workers, and deliveries whose message was lost."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import text

from hookrelay.db.types import utcnow
from hookrelay.delivery.client import DeliveryClient
from hookrelay.delivery.dispatcher import Dispatcher
from hookrelay.scheduler import run_tick
from hookrelay.services.endpoints import create_endpoint
from hookrelay.services.events import publish_event, record_event

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings):
    return settings.with_overrides(allow_private_targets=True, retry_schedule=(timedelta(0), timedelta(seconds=1)))


@pytest.fixture
async def receiver():
    """A real HTTP receiver on 127.0.0.1 that records each request's webhook-id and attempt."""
    received: list[tuple[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        received.append((request.headers["webhook-id"], request.headers["hookrelay-attempt"]))
        await asyncio.sleep(0.05)  # long enough for a racing worker to try the same rows
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def _count(services, sql: str) -> int:
    async with services.database.transaction() as connection:
        return await connection.scalar(text(sql))


async def test_an_event_and_its_deliveries_commit_together_or_not_at_all(services, app_key, receiver):
    for event_types in (["invoice.*"], ["*"], ["job.*"]):
        await create_endpoint(services, app_id=app_key[0], fields={"url": receiver[0], "event_types": event_types})
    with pytest.raises(RuntimeError):
        async with services.database.transaction() as connection:
            await record_event(connection, app_id=app_key[0], event_type="invoice.paid", data={}, now=utcnow())
            raise RuntimeError("crash before commit")
    assert await _count(services, "SELECT count(*) FROM events") == 0
    assert await _count(services, "SELECT count(*) FROM deliveries") == 0
    status, body, _ = await publish_event(services, app_id=app_key[0], event_type="invoice.paid", data={"n": 1})
    assert status == 202
    assert len(body["deliveries"]) == 2  # invoice.* and *, not job.*
    assert await _count(services, "SELECT count(*) FROM deliveries") == 2
    assert services.enqueue_deliveries.sent == [([d["id"] for d in body["deliveries"]], 0)]


async def test_two_workers_racing_on_the_same_deliveries_send_each_attempt_once(services, app_key, receiver):
    url, received = receiver
    await create_endpoint(services, app_id=app_key[0], fields={"url": url})
    ids = []
    for n in range(20):
        _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={"n": n})
        ids += [d["id"] for d in body["deliveries"]]
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client_a, DeliveryClient(
        timeout=5, allow_private_targets=True
    ) as client_b:
        worker_a, worker_b = Dispatcher(services, client_a), Dispatcher(services, client_b)
        sent = await asyncio.gather(worker_a.deliver(ids), worker_b.deliver(ids), worker_a.deliver(ids[::-1]))
    assert sum(sent) == 20
    assert len(received) == 20
    assert len({webhook_id for webhook_id, _ in received}) == 20
    assert await _count(services, "SELECT count(*) FROM attempts") == 20
    assert await _count(services, "SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND attempts = 1") == 20


async def test_a_delivery_whose_message_was_lost_is_found_and_sent_by_the_scheduler(services, app_key, receiver):
    url, received = receiver
    await create_endpoint(services, app_id=app_key[0], fields={"url": url})
    _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={})
    [delivery] = body["deliveries"]
    services.enqueue_deliveries.sent.clear()  # as if Redis had been flushed before a worker took it
    report = await run_tick(services)
    assert report.resent_deliveries == 0  # its message was sent moments ago: not yet presumed lost
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE deliveries SET enqueued_at = enqueued_at - interval '1 minute'"))
    report = await run_tick(services)
    assert report.resent_deliveries == 1
    assert services.enqueue_deliveries.sent == [([delivery["id"]], 0)]
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        assert await Dispatcher(services, client).deliver([delivery["id"]]) == 1
    assert [webhook_id for webhook_id, _ in received] == [body["id"]]


async def test_a_claim_abandoned_by_a_killed_worker_is_retried_after_its_lease(services, app_key, receiver):
    url, received = receiver
    await create_endpoint(services, app_id=app_key[0], fields={"url": url})
    _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={})
    delivery_id = body["deliveries"][0]["id"]
    async with services.database.transaction() as connection:
        # A worker claimed it and died: its lease is in the future, nothing was recorded.
        await connection.execute(text("UPDATE deliveries SET locked_until = now() + interval '1 hour'"))
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        assert await Dispatcher(services, client).deliver([delivery_id]) == 0
        async with services.database.transaction() as connection:
            await connection.execute(
                text("UPDATE deliveries SET locked_until = now() - interval '1 second', enqueued_at = NULL")
            )
        assert (await run_tick(services)).resent_deliveries == 1
        assert await Dispatcher(services, client).deliver([delivery_id]) == 1
    assert len(received) == 1


async def test_retention_purges_old_events_with_their_deliveries_and_attempts_but_keeps_due_work(
    services, app_key, receiver
):
    from hookrelay.scheduler import TickReport, purge_expired

    url, _ = receiver
    await create_endpoint(services, app_id=app_key[0], fields={"url": url})
    delivered = []
    for n in range(4):
        _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={"n": n})
        delivered.append(body)
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        await Dispatcher(services, client).deliver([b["deliveries"][0]["id"] for b in delivered])
    _, still_due, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={"n": 4})
    delivered.append(still_due)
    _, fresh, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={})
    async with services.database.transaction() as connection:
        # Four delivered events and one still-due event are 40 days old; one event is new.
        old_ids = [b["id"] for b in delivered]
        for table in ("events", "deliveries"):
            column = "id" if table == "events" else "event_id"
            await connection.execute(
                text(f"UPDATE {table} SET created_at = now() - interval '40 days' WHERE {column} = ANY(:ids)"),
                {"ids": old_ids},
            )
    report = TickReport()
    await purge_expired(services, report)
    assert report.purged_events == 4
    assert await _count(services, "SELECT count(*) FROM attempts") == 0
    remaining = await _count(services, "SELECT count(*) FROM events")
    assert remaining == 2  # the still-due old event and the new one
    async with services.database.transaction() as connection:
        kept = set((await connection.execute(text("SELECT id FROM events"))).scalars())
    assert kept == {delivered[4]["id"], fresh["id"]}


async def test_deleting_an_endpoint_deletes_the_attempts_of_its_deliveries_and_no_others(services, app_key, receiver):
    from hookrelay.services.endpoints import delete_endpoint

    url, _ = receiver
    deleted = await create_endpoint(services, app_id=app_key[0], fields={"url": url, "event_types": ["order.*"]})
    await create_endpoint(services, app_id=app_key[0], fields={"url": url, "event_types": ["*"]})
    _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={})
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        assert await Dispatcher(services, client).deliver([d["id"] for d in body["deliveries"]]) == 2
    await delete_endpoint(services, app_id=app_key[0], endpoint_id=deleted["id"])
    # Attempts have no foreign key to cascade by (migration 0005): the deletion takes them.
    assert await _count(services, "SELECT count(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)") == 0
    assert await _count(services, "SELECT count(*) FROM attempts") == 1


async def test_retention_sweeps_old_attempts_whose_delivery_is_gone_and_keeps_the_rest(services, app_key, receiver):
    from hookrelay.scheduler import TickReport, purge_expired

    url, _ = receiver
    ids = await _published_deliveries(services, app_key[0], url, count=2)
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        assert await Dispatcher(services, client).deliver(ids) == 2
    async with services.database.transaction() as connection:
        # What a worker leaves when it records an attempt as the delivery's endpoint is deleted:
        # one such attempt 40 days old, one from today; and the first delivery's own attempt
        # 40 days old (its event is new, so retention keeps it).
        await connection.execute(text(
            "INSERT INTO attempts (id, delivery_id, app_id, number, trigger, started_at, duration_ms, request_url,"
            " request_headers, outcome) SELECT 'att_orphan_' || n, 'dlv_gone_' || n, app_id, 1, 'scheduled',"
            " now() - make_interval(days => n), 1, request_url, request_headers, 'success'"
            " FROM attempts, (VALUES (40), (0)) AS ages(n) WHERE delivery_id = :id"
        ), {"id": ids[0]})
        await connection.execute(
            text("UPDATE attempts SET started_at = now() - interval '40 days' WHERE delivery_id = :id"), {"id": ids[0]}
        )
    report = TickReport()
    await purge_expired(services, report)
    assert (report.purged_events, report.purged_orphaned_attempts) == (0, 1)
    async with services.database.transaction() as connection:
        left = set((await connection.execute(text("SELECT delivery_id FROM attempts"))).scalars())
    assert left == {ids[0], ids[1], "dlv_gone_0"}


async def test_retention_leaves_the_orphan_sweep_for_a_run_that_purged_every_expired_event(
    services, app_key, receiver, monkeypatch
):
    from hookrelay import scheduler
    from hookrelay.scheduler import TickReport, purge_expired

    url, _ = receiver
    await _published_deliveries(services, app_key[0], url, count=2)
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE deliveries SET status = 'succeeded'"))
        await connection.execute(text("UPDATE events SET created_at = now() - interval '40 days'"))
        await connection.execute(text(
            "INSERT INTO attempts (id, delivery_id, app_id, number, trigger, started_at, duration_ms, request_url,"
            " request_headers, outcome) VALUES ('att_orphan', 'dlv_gone', :app, 1, 'scheduled',"
            " now() - interval '40 days', 1, 'http://x', '{}', 'success')"
        ), {"app": app_key[0]})
    monkeypatch.setattr(scheduler, "PURGE_BATCH", 1)
    monkeypatch.setattr(scheduler, "PURGE_BATCHES", 1)
    # The first run stops at its cap of one event: expired events remain, so no sweep.
    first = TickReport()
    await purge_expired(services, first)
    assert (first.purged_events, first.purged_orphaned_attempts) == (1, 0)
    second = TickReport()
    await purge_expired(services, second)
    assert (second.purged_events, second.purged_orphaned_attempts) == (1, 0)
    # Nothing expired is left: this run sweeps.
    third = TickReport()
    await purge_expired(services, third)
    assert (third.purged_events, third.purged_orphaned_attempts) == (0, 1)


async def test_a_manual_attempt_whose_endpoint_is_deleted_meanwhile_is_not_found_and_leaves_no_attempt(
    services, app_key, receiver
):
    from hookrelay.delivery.client import SendResult
    from hookrelay.delivery.manual import attempt_now
    from hookrelay.errors import NotFound
    from hookrelay.services.endpoints import delete_endpoint

    url, _ = receiver
    (delivery_id,) = await _published_deliveries(services, app_key[0], url, count=1)
    async with services.database.transaction() as connection:
        endpoint_id = await connection.scalar(text("SELECT endpoint_id FROM deliveries"))

    class DeletingClient:
        """Sends nothing; the endpoint is deleted while the request is out."""

        async def send(self, request):
            await delete_endpoint(services, app_id=app_key[0], endpoint_id=endpoint_id)
            return SendResult(status=200, duration_ms=1.0)

    with pytest.raises(NotFound):
        await attempt_now(services, DeletingClient(), app_id=app_key[0], delivery_id=delivery_id)
    assert await _count(services, "SELECT count(*) FROM attempts") == 0


async def _published_deliveries(services, app_id: str, url: str, *, count: int) -> list[str]:
    """One endpoint at ``url`` and ``count`` events published to it: their delivery ids."""
    await create_endpoint(services, app_id=app_id, fields={"url": url})
    ids = []
    for n in range(count):
        _, body, _ = await publish_event(services, app_id=app_id, event_type="order.created", data={"n": n})
        ids += [d["id"] for d in body["deliveries"]]
    return ids


async def test_a_message_whose_deliveries_this_worker_leased_after_it_was_sent_needs_no_database(
    services, app_key, receiver, monkeypatch
):
    url, received = receiver
    ids = await _published_deliveries(services, app_key[0], url, count=3)
    sent_before_the_claim = time.time() - 1
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        worker = Dispatcher(services, client)
        # The first message's claim tops its batch up with the other two deliveries, and finds
        # nothing more: the backlog is over (for a moment, made longer here so that a slow
        # machine cannot end it before the next two messages).
        assert await worker.deliver([ids[0]], sent_at=sent_before_the_claim) == 3
        assert worker.backlog_over_until > 0
        worker.backlog_over_until = time.monotonic() + 60
        database_uses = []
        for name in ("driver_connection", "transaction"):
            original = getattr(services.database, name)
            monkeypatch.setattr(
                services.database, name, lambda *a, _original=original, **k: database_uses.append(1) or _original(*a, **k)
            )
        # The other two messages, sent before that claim, are answered from memory.
        assert await worker.deliver([ids[1]], sent_at=sent_before_the_claim) == 0
        assert await worker.deliver([ids[2]], sent_at=sent_before_the_claim) == 0
        assert database_uses == []
        # A message sent after the lease (a replay, a follow-up, a re-send) is attempted again.
        async with services.database.transaction() as connection:
            await connection.execute(
                text("UPDATE deliveries SET status = 'pending', next_attempt_at = now() WHERE id = :id"), {"id": ids[1]}
            )
        assert await worker.deliver([ids[1]], sent_at=time.time()) == 1
    assert sorted(attempt for _, attempt in received) == ["1", "1", "1", "2"]


async def test_a_message_left_with_nothing_of_its_own_still_tops_up_while_a_backlog_lasts(
    services, app_key, receiver, monkeypatch
):
    from hookrelay.delivery import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "CLAIM_BATCH", 2)
    url, received = receiver
    ids = await _published_deliveries(services, app_key[0], url, count=4)
    sent_before = time.time() - 1
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        worker = Dispatcher(services, client)
        assert await worker.deliver([ids[0]], sent_at=sent_before) == 2  # its own and one more
        assert worker.backlog_over_until == 0
        # ids[1] was leased by that claim, but the backlog is not known to be over: this
        # message takes the next two.
        assert await worker.deliver([ids[1]], sent_at=sent_before) == 2
        assert await worker.deliver([ids[2]], sent_at=sent_before) == 0  # nothing left to take
        assert worker.backlog_over_until > time.monotonic()
        # A moment later the backlog is looked at again: new work behind stale messages waits
        # at most that long.
        worker.backlog_over_until = time.monotonic() - 1
        _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={"n": 9})
        assert await worker.deliver([ids[3]], sent_at=sent_before) == 1
    assert len(received) == 5
    assert await _count(services, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'") == 5


async def test_once_the_backlog_is_over_a_stale_message_costs_a_look_up_and_claims_only_what_is_still_free(
    services, app_key, receiver, monkeypatch
):
    from hookrelay.db.repositories import deliveries as deliveries_repo
    from hookrelay.delivery import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "CLAIM_BATCH", 2)
    url, received = receiver
    ids = await _published_deliveries(services, app_key[0], url, count=3)
    sent_before = time.time() - 1
    claims, look_ups = [], []
    for name, calls in (("claim_direct", claims), ("claimable_among_direct", look_ups)):
        original = getattr(deliveries_repo, name)
        monkeypatch.setattr(
            deliveries_repo, name, lambda *a, _original=original, _calls=calls, **k: _calls.append(a[1]) or _original(*a, **k)
        )
    async with DeliveryClient(timeout=5, allow_private_targets=True) as client:
        first, second = Dispatcher(services, client), Dispatcher(services, client)
        assert await first.deliver([ids[0]], sent_at=sent_before) == 2  # its own, topped up with ids[1]
        # The second worker process's own top-up just came back short (made to last here).
        second.backlog_over_until = time.monotonic() + 60
        second.backlog_seen_over_at = time.time()
        claims.clear()
        # A message sent before that names one delivery the first worker took and one still free:
        # one look-up, and the claim for the free one only.
        assert await second.deliver([ids[1], ids[2]], sent_at=sent_before) == 1
        assert look_ups == [[ids[1], ids[2]]]
        assert claims == [[ids[2]]]
        # Its deliveries all taken, a stale message stops at the look-up.
        assert await second.deliver([ids[1]], sent_at=sent_before) == 0
        assert len(look_ups) == 2 and len(claims) == 1
        # A message sent since is new work: straight to the claim, no look-up.
        _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={"n": 3})
        fresh_id = body["deliveries"][0]["id"]
        assert await second.deliver([fresh_id], sent_at=time.time()) == 1
        assert len(look_ups) == 2 and claims[-1] == [fresh_id]
    assert sorted(attempt for _, attempt in received) == ["1", "1", "1", "1"]
