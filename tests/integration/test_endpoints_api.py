"""Endpoints, events and deliveries routes in process, on real PostgreSQL."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook

from hookrelay.db.repositories.endpoints import get_endpoint
from hookrelay.db.types import utcnow
from hookrelay.delivery.dispatcher import endpoint_secrets
from hookrelay.delivery.request import build_webhook_request
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings):
    return settings.with_overrides(allow_private_targets=False)


async def create(client, key, **fields):
    body = {"url": "https://93.184.215.14/hooks", **fields}
    return await client.post("/v1/endpoints", json=body, headers=auth(key))


async def test_create_returns_the_endpoint_and_its_secret(client, app_key):
    response = await create(client, app_key[1], event_types=["invoice.*", "job.completed"], description="billing",
                            headers={"X-Tenant": "acme"}, metadata={"team": "payments"}, rate_limit=20)
    assert response.status_code == 201, response.text
    endpoint = response.json()
    assert endpoint["id"].startswith("ep_") and endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["disabled_reason"] is None
    assert endpoint["event_types"] == ["invoice.*", "job.completed"]
    assert endpoint["headers"] == {"X-Tenant": "acme"} and endpoint["rate_limit"] == 20
    fetched = (await client.get(f"/v1/endpoints/{endpoint['id']}", headers=auth(app_key[1]))).json()
    assert "secret" not in fetched
    secret = (await client.get(f"/v1/endpoints/{endpoint['id']}/secret", headers=auth(app_key[1]))).json()
    assert secret == {"secret": endpoint["secret"]}


async def test_defaults_and_a_supplied_secret(client, app_key):
    supplied = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    endpoint = (await create(client, app_key[1], secret=supplied)).json()
    assert endpoint["event_types"] == ["*"]
    assert endpoint["secret"] == supplied


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://example.com/hook",
        "not a url",
    ],
)
async def test_private_or_invalid_targets_are_refused(client, app_key, url):
    response = await create(client, app_key[1], url=url)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"event_types": ["bad type!"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"headers": {"Bad Header": "x"}}, "headers"),
    ],
)
async def test_invalid_fields_are_422(client, app_key, fields, field):
    response = await create(client, app_key[1], **fields)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_patch_enable_disable_delete(client, app_key):
    key = app_key[1]
    endpoint_id = (await create(client, key)).json()["id"]
    patched = await client.patch(f"/v1/endpoints/{endpoint_id}", json={"event_types": ["a.*"], "description": None},
                                 headers=auth(key))
    assert patched.status_code == 200 and patched.json()["event_types"] == ["a.*"]
    disabled = (await client.post(f"/v1/endpoints/{endpoint_id}/disable", headers=auth(key))).json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"] == "manual"
    enabled = (await client.post(f"/v1/endpoints/{endpoint_id}/enable", headers=auth(key))).json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    listing = (await client.get("/v1/endpoints", headers=auth(key))).json()
    assert [e["id"] for e in listing["data"]] == [endpoint_id]
    assert (await client.delete(f"/v1/endpoints/{endpoint_id}", headers=auth(key))).status_code == 204
    assert (await client.get(f"/v1/endpoints/{endpoint_id}", headers=auth(key))).status_code == 404


async def test_rotation_signs_with_both_secrets_during_the_grace(client, app_key, services):
    key = app_key[1]
    created = (await create(client, key)).json()
    rotated = (await client.post(f"/v1/endpoints/{created['id']}/secret/rotate", headers=auth(key))).json()
    assert rotated["secret"] != created["secret"]
    async with services.database.transaction() as connection:
        row = await get_endpoint(connection, created["id"])
    secrets = endpoint_secrets(
        {f"endpoint_{k}": v for k, v in row.items() if k in ("secret", "previous_secret", "previous_secret_expires_at")},
        utcnow(),
    )
    assert secrets == [rotated["secret"], created["secret"]]
    now = int(time.time())
    request = build_webhook_request(
        url=row["url"], event_id="evt_1", event_type="a.b", event_created_at="2026-11-22T00:00:00.000Z", data={},
        delivery_id="dlv_1", attempt=1, secrets=secrets, timestamp=now, custom_headers=None, version="t",
    )
    assert len(request.headers_dict()["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], rotated["secret"]):
        Webhook(secret).verify(request.body, request.headers_dict())


async def test_events_fan_out_to_matching_endpoints_only(client, app_key):
    key = app_key[1]
    invoices = (await create(client, key, event_types=["invoice.*"])).json()["id"]
    everything = (await create(client, key)).json()["id"]
    jobs = (await create(client, key, event_types=["job.*"])).json()["id"]
    disabled = (await create(client, key)).json()["id"]
    await client.post(f"/v1/endpoints/{disabled}/disable", headers=auth(key))
    response = await client.post("/v1/events", json={"type": "invoice.paid", "data": {"amount": 5}}, headers=auth(key))
    assert response.status_code == 202
    event = response.json()
    assert event["id"].startswith("evt_") and event["data"] == {"amount": 5}
    assert {d["endpoint_id"] for d in event["deliveries"]} == {invoices, everything}
    assert jobs not in {d["endpoint_id"] for d in event["deliveries"]}
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in event["deliveries"])
    fetched = (await client.get(f"/v1/events/{event['id']}", headers=auth(key))).json()
    assert fetched == event
    listed = (await client.get("/v1/events", params={"type": "invoice.paid"}, headers=auth(key))).json()
    assert [e["id"] for e in listed["data"]] == [event["id"]]
    delivery = event["deliveries"][0]
    assert (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth(key))).json() == delivery
    attempts = (await client.get(f"/v1/deliveries/{delivery['id']}/attempts", headers=auth(key))).json()
    assert attempts == {"data": [], "next_cursor": None}


async def test_event_idempotency(client, app_key):
    key = app_key[1]
    body = {"type": "invoice.paid", "data": {"id": "in_1"}}
    first = await client.post("/v1/events", json=body, headers={**auth(key), "Idempotency-Key": "in_1"})
    second = await client.post("/v1/events", json=body, headers={**auth(key), "Idempotency-Key": "in_1"})
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    other = await client.post("/v1/events", json={**body, "data": {"id": "in_2"}}, headers={**auth(key), "Idempotency-Key": "in_1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "body, status",
    [({"type": "bad type"}, 422), ({"type": "x" * 129}, 422), ({"data": {}}, 422), ({"type": "a", "data": [1]}, 422),
     ({"type": "a", "data": {"blob": "x" * 5000}}, 413)],
)
async def test_bad_events_are_refused(client, app_key, body, status):
    response = await client.post("/v1/events", json=body, headers=auth(app_key[1]))
    assert response.status_code == status


async def test_test_route_sends_webhook_test_to_that_endpoint_alone(client, app_key):
    key = app_key[1]
    target = (await create(client, key, event_types=["invoice.*"])).json()["id"]
    await create(client, key)
    response = await client.post(f"/v1/endpoints/{target}/test", headers=auth(key))
    assert response.status_code == 202
    event = response.json()
    assert event["type"] == "webhook.test"
    assert [d["endpoint_id"] for d in event["deliveries"]] == [target]


async def test_another_applications_resources_are_404(client, app_key, other_app_key):
    endpoint_id = (await create(client, app_key[1])).json()["id"]
    event = (await client.post("/v1/events", json={"type": "a.b"}, headers=auth(app_key[1]))).json()
    delivery_id = event["deliveries"][0]["id"]
    intruder = auth(other_app_key[1])
    for method, path in [
        ("GET", f"/v1/endpoints/{endpoint_id}"), ("PATCH", f"/v1/endpoints/{endpoint_id}"),
        ("DELETE", f"/v1/endpoints/{endpoint_id}"), ("POST", f"/v1/endpoints/{endpoint_id}/enable"),
        ("POST", f"/v1/endpoints/{endpoint_id}/disable"), ("POST", f"/v1/endpoints/{endpoint_id}/secret/rotate"),
        ("GET", f"/v1/endpoints/{endpoint_id}/secret"), ("POST", f"/v1/endpoints/{endpoint_id}/test"),
        ("GET", f"/v1/events/{event['id']}"), ("GET", f"/v1/deliveries/{delivery_id}"),
        ("GET", f"/v1/deliveries/{delivery_id}/attempts"),
    ]:
        kwargs = {"json": {}} if method == "PATCH" else {}
        response = await client.request(method, path, headers=intruder, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
