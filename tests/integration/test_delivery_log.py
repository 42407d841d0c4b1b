"""The delivery log and the DLQ routes in process, on real PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from hookrelay.db.types import utcnow
from hookrelay.services.endpoints import create_endpoint
from hookrelay.services.events import record_event
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration

STATUSES = ("pending", "retrying", "succeeded", "dead", "discarded")


@pytest.fixture
def settings(settings):
    return settings.with_overrides(allow_private_targets=True)


async def _endpoints(services, app_id, count=2):
    return [
        (await create_endpoint(services, app_id=app_id, fields={"url": f"http://127.0.0.1:9/{n}"}))["id"]
        for n in range(count)
    ]


async def _events(services, app_id, count, event_types=("invoice.paid", "order.created")):
    types = itertools.cycle(event_types)
    async with services.database.transaction() as connection:
        for _ in range(count):
            await record_event(connection, app_id=app_id, event_type=next(types), data={}, now=utcnow())


async def _mix_statuses(services):
    async with services.database.transaction() as connection:
        await connection.execute(text(
            "UPDATE deliveries SET status = (ARRAY['pending','retrying','succeeded','dead','discarded'])"
            "[1 + abs(hashtext(id)) % 5]"
        ))
        await connection.execute(text("UPDATE deliveries SET dead_reason = 'rejected' WHERE status = 'dead'"))


async def test_paging_stays_exact_while_new_deliveries_arrive(client, services, app_key):
    await _endpoints(services, app_key[0])
    await _events(services, app_key[0], 500)  # 2 endpoints → 1,000 deliveries
    await _mix_statuses(services)
    async with services.database.transaction() as connection:
        original = set((await connection.execute(text("SELECT id FROM deliveries"))).scalars())
    assert len(original) == 1000
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/deliveries", params=params, headers=auth(app_key[1]))).json()
        seen += [d["id"] for d in page["data"]]
        pages += 1
        if pages % 15 == 0 and pages <= 150:
            await _events(services, app_key[0], 10)  # 200 more arrive while paging
        cursor = page["next_cursor"]
        if cursor is None:
            break
    from_original = [d for d in seen if d in original]
    assert len(from_original) == 1000 and set(from_original) == original
    assert len(seen) == len(set(seen))


async def test_each_filter_alone_and_combined(client, services, app_key):
    first, second = await _endpoints(services, app_key[0])
    await _events(services, app_key[0], 30)
    await _mix_statuses(services)
    async with services.database.transaction() as connection:
        rows = [dict(r._mapping) for r in await connection.execute(text("SELECT * FROM deliveries"))]
    key = auth(app_key[1])

    async def ids(**params):
        page = (await client.get("/v1/deliveries", params={"limit": 500, **params}, headers=key)).json()
        return {d["id"] for d in page["data"]}

    assert await ids(endpoint_id=first) == {r["id"] for r in rows if r["endpoint_id"] == first}
    event_id = rows[0]["event_id"]
    assert await ids(event_id=event_id) == {r["id"] for r in rows if r["event_id"] == event_id}
    assert await ids(event_type="order.created") == {r["id"] for r in rows if r["event_type"] == "order.created"}
    for status in STATUSES:
        assert await ids(status=status) == {r["id"] for r in rows if r["status"] == status}
    middle = sorted(r["created_at"] for r in rows)[len(rows) // 2]
    stamp = middle.isoformat().replace("+00:00", "Z")
    assert await ids(since=stamp) == {r["id"] for r in rows if r["created_at"] >= middle}
    assert await ids(until=stamp) == {r["id"] for r in rows if r["created_at"] < middle}
    combined = await ids(endpoint_id=second, event_type="invoice.paid", status="dead")
    assert combined == {
        r["id"] for r in rows
        if r["endpoint_id"] == second and r["event_type"] == "invoice.paid" and r["status"] == "dead"
    }
    dlq = (await client.get("/v1/dlq", params={"limit": 500, "reason": "rejected"}, headers=key)).json()
    assert {d["id"] for d in dlq["data"]} == {r["id"] for r in rows if r["status"] == "dead"}
    assert (await client.get("/v1/deliveries", params={"since": "yesterday"}, headers=key)).status_code == 422
    assert (await client.get("/v1/deliveries", params={"status": "lost"}, headers=key)).status_code == 422


async def test_tampered_or_foreign_cursors_are_400(client, services, app_key, other_app_key):
    await _endpoints(services, app_key[0])
    await _events(services, app_key[0], 5)
    cursor = (await client.get("/v1/deliveries", params={"limit": 2}, headers=auth(app_key[1]))).json()["next_cursor"]
    assert cursor
    tampered = cursor[:-3] + ("xyz" if not cursor.endswith("xyz") else "abc")
    for params, key in (({"cursor": tampered}, app_key[1]), ({"cursor": cursor}, other_app_key[1])):
        response = await client.get("/v1/deliveries", params=params, headers=auth(key))
        assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"
    jobs_cursor_on_dlq = await client.get("/v1/dlq", params={"cursor": cursor}, headers=auth(app_key[1]))
    assert jobs_cursor_on_dlq.status_code == 400


async def test_another_applications_delivery_is_404_on_every_route(client, services, app_key, other_app_key):
    await _endpoints(services, app_key[0], 1)
    await _events(services, app_key[0], 1)
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE deliveries SET status = 'dead', dead_reason = 'rejected'"))
        delivery_id = await connection.scalar(text("SELECT id FROM deliveries"))
    intruder = auth(other_app_key[1])
    for method, path in (
        ("GET", f"/v1/deliveries/{delivery_id}"), ("GET", f"/v1/deliveries/{delivery_id}/attempts"),
        ("POST", f"/v1/deliveries/{delivery_id}/redeliver"), ("DELETE", f"/v1/dlq/{delivery_id}"),
    ):
        assert (await client.request(method, path, headers=intruder)).status_code == 404, path
    replay = await client.post("/v1/dlq/replay", json={"ids": [delivery_id]}, headers=intruder)
    assert replay.status_code == 202 and replay.json() == {"requeued": 0}
    assert (await client.get("/v1/dlq", headers=intruder)).json()["data"] == []


async def test_replay_needs_ids_or_a_filter_and_refuses_disabled_endpoints(client, services, app_key):
    [endpoint_id] = await _endpoints(services, app_key[0], 1)
    await _events(services, app_key[0], 3)
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE deliveries SET status = 'dead', dead_reason = 'rejected'"))
    key = auth(app_key[1])
    assert (await client.post("/v1/dlq/replay", json={}, headers=key)).status_code == 422
    await client.post(f"/v1/endpoints/{endpoint_id}/disable", headers=key)
    refused = await client.post("/v1/dlq/replay", json={"endpoint_id": endpoint_id}, headers=key)
    assert refused.status_code == 409 and endpoint_id in refused.json()["detail"]
    await client.post(f"/v1/endpoints/{endpoint_id}/enable", headers=key)
    replayed = await client.post("/v1/dlq/replay", json={"reason": "rejected"}, headers=key)
    assert replayed.json() == {"requeued": 3}
    again = await client.post("/v1/dlq/replay", json={"reason": "rejected"}, headers=key)
    assert again.json() == {"requeued": 0}
    async with services.database.transaction() as connection:
        rows = (await connection.execute(text("SELECT status, next_trigger, retry_base FROM deliveries"))).all()
    assert {tuple(r) for r in rows} == {("pending", "replay", 0)}


async def test_admin_dlq_lists_every_application(client, services, app_key, other_app_key):
    for app_id in (app_key[0], other_app_key[0]):
        await _endpoints(services, app_id, 1)
        await _events(services, app_id, 2)
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE deliveries SET status = 'dead', dead_reason = 'rejected'"))
    from tests.integration.conftest import ADMIN_TOKEN

    listing = (await client.get("/v1/admin/dlq", headers=auth(ADMIN_TOKEN))).json()
    assert {d["app_id"] for d in listing["data"]} == {app_key[0], other_app_key[0]}
    assert (await client.get("/v1/admin/dlq", headers=auth(app_key[1]))).status_code == 401
