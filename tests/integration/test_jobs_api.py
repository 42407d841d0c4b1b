"""The jobs API in process (AsyncTestClient) on real PostgreSQL: contract and bad input."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.integration.conftest import auth

pytestmark = pytest.mark.integration


async def submit(client, key, body=None, **headers):
    body = body if body is not None else {"type": "demo.echo", "input": {"x": 1}}
    return await client.post("/v1/jobs", json=body, headers={**auth(key), **headers})


async def test_submit_answers_202_with_location_and_status_url(client, app_key, services):
    response = await submit(client, app_key[1])
    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("job_")
    assert body["status"] == "pending"
    assert body["status_url"] == f"/v1/jobs/{body['id']}"
    assert response.headers["location"] == body["status_url"]
    assert services.enqueue_job.sent == [(body["id"], 0)]


async def test_get_pending_job_carries_retry_after(client, app_key):
    job_id = (await submit(client, app_key[1])).json()["id"]
    response = await client.get(f"/v1/jobs/{job_id}", headers=auth(app_key[1]))
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["input"] == {"x": 1}
    assert int(response.headers["retry-after"]) >= 1


async def test_another_applications_key_gets_404(client, app_key, other_app_key):
    job_id = (await submit(client, app_key[1])).json()["id"]
    for method, path in (
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
    ):
        response = await client.request(method, path, headers=auth(other_app_key[1]))
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    listing = await client.get("/v1/jobs", headers=auth(other_app_key[1]))
    assert listing.json()["data"] == []


async def test_idempotent_replay_returns_the_original_response(client, app_key, services):
    key = app_key[1]
    body = {"type": "demo.echo", "input": {"a": 1, "b": 2}}
    first = await submit(client, key, body, **{"Idempotency-Key": "order-42"})
    reordered = {"input": {"b": 2, "a": 1}, "type": "demo.echo"}
    second = await submit(client, key, reordered, **{"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(services.enqueue_job.sent) == 1


async def test_reused_idempotency_key_with_another_body_is_422(client, app_key):
    await submit(client, app_key[1], {"type": "demo.echo", "input": {"n": 1}}, **{"Idempotency-Key": "k1"})
    response = await submit(client, app_key[1], {"type": "demo.echo", "input": {"n": 2}}, **{"Idempotency-Key": "k1"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_idempotency_keys_are_per_application(client, app_key, other_app_key):
    first = await submit(client, app_key[1], **{"Idempotency-Key": "same"})
    second = await submit(client, other_app_key[1], **{"Idempotency-Key": "same"})
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers


async def test_concurrent_submissions_with_one_key_create_one_job(client, app_key, services):
    responses = await asyncio.gather(
        *[submit(client, app_key[1], **{"Idempotency-Key": "race"}) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if "idempotent-replayed" not in r.headers) == 1
    async with services.database.transaction() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM jobs"))
    assert count == 1


async def test_list_pages_with_signed_cursors(client, app_key):
    ids = [(await submit(client, app_key[1])).json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/jobs", params=params, headers=auth(app_key[1]))).json()
        seen += [job["id"] for job in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_list_filters_by_status_and_type(client, app_key):
    await submit(client, app_key[1])
    await submit(client, app_key[1], {"type": "demo.sleep", "input": {"seconds": 0}})
    by_type = (await client.get("/v1/jobs", params={"type": "demo.sleep"}, headers=auth(app_key[1]))).json()
    assert [job["type"] for job in by_type["data"]] == ["demo.sleep"]
    by_status = (await client.get("/v1/jobs", params={"status": "completed"}, headers=auth(app_key[1]))).json()
    assert by_status["data"] == []


async def test_cancel_pending_job_then_409(client, app_key):
    job_id = (await submit(client, app_key[1])).json()["id"]
    cancelled = await client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(app_key[1]))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert "retry-after" not in cancelled.headers
    again = await client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(app_key[1]))
    assert again.status_code == 409
    assert again.json()["code"] == "job_not_cancellable"


async def test_long_poll_returns_current_state_after_wait(client, app_key):
    job_id = (await submit(client, app_key[1])).json()["id"]
    started = asyncio.get_running_loop().time()
    response = await client.get(f"/v1/jobs/{job_id}", params={"wait": 1}, headers=auth(app_key[1]))
    assert response.json()["status"] == "pending"
    assert asyncio.get_running_loop().time() - started >= 0.9


# --- bad input: always a problem document and a 4xx, never a 500 ---------------------------


async def test_malformed_json_is_400(client, app_key):
    response = await client.post(
        "/v1/jobs", content=b'{"type": "demo.echo",', headers={**auth(app_key[1]), "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "malformed_json"


async def test_empty_body_is_400(client, app_key):
    response = await client.post("/v1/jobs", content=b"", headers={**auth(app_key[1]), "content-type": "application/json"})
    assert response.status_code == 400


async def test_unknown_job_type_is_422_listing_the_types(client, app_key):
    response = await submit(client, app_key[1], {"type": "report.nope", "input": {}})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "unknown_job_type"
    assert {"demo.echo", "demo.sleep", "demo.fail"} <= set(problem["registered_types"])
    assert "demo.sleep" in problem["detail"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"input": {}}, "type"),
        ({"type": 5}, "type"),
        ({"type": "demo.echo", "surprise": 1}, None),
        ({"type": "demo.echo", "metadata": "not an object"}, "metadata"),
        ([1, 2], None),
    ],
)
async def test_failed_validation_is_422_with_field_errors(client, app_key, body, field):
    response = await submit(client, app_key[1], body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"]
    if field:
        assert any(field in error["field"] or field in error["message"] for error in problem["errors"])


async def test_oversized_input_is_413(client, app_key):
    response = await submit(client, app_key[1], {"type": "demo.echo", "input": {"blob": "x" * 5000}})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_far_oversized_body_is_413(client, app_key):
    response = await submit(client, app_key[1], {"type": "demo.echo", "input": {"blob": "x" * 200_000}})
    assert response.status_code == 413


async def test_tampered_cursor_is_400(client, app_key):
    for _ in range(3):
        await submit(client, app_key[1])
    cursor = (await client.get("/v1/jobs", params={"limit": 1}, headers=auth(app_key[1]))).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = await client.get("/v1/jobs", params={"cursor": tampered}, headers=auth(app_key[1]))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_another_applications_cursor_is_400(client, app_key, other_app_key):
    for _ in range(3):
        await submit(client, app_key[1])
    cursor = (await client.get("/v1/jobs", params={"limit": 1}, headers=auth(app_key[1]))).json()["next_cursor"]
    response = await client.get("/v1/jobs", params={"cursor": cursor}, headers=auth(other_app_key[1]))
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer hr_notarealkey123456"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
async def test_missing_or_wrong_key_is_401(client, headers):
    response = await client.post("/v1/jobs", json={"type": "demo.echo"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 401


@pytest.mark.parametrize("wait", ["1000", "-1", "soon"])
async def test_bad_wait_is_refused_with_422(client, app_key, wait):
    job_id = (await submit(client, app_key[1])).json()["id"]
    response = await client.get(f"/v1/jobs/{job_id}", params={"wait": wait}, headers=auth(app_key[1]))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_bad_limit_and_status_filter_are_422(client, app_key):
    assert (await client.get("/v1/jobs", params={"limit": 501}, headers=auth(app_key[1]))).status_code == 422
    assert (await client.get("/v1/jobs", params={"status": "bogus"}, headers=auth(app_key[1]))).status_code == 422


async def test_unknown_job_is_404_problem(client, app_key):
    response = await client.get("/v1/jobs/job_doesnotexist", headers=auth(app_key[1]))
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


@pytest.mark.parametrize("path, body", [
    ("/v1/jobs", {"type": "demo.echo", "input": {"text": "a\u0000b"}}),
    ("/v1/jobs", {"type": "demo.echo", "input": {}, "metadata": {"a\u0000": "b"}}),
    ("/v1/events", {"type": "invoice.paid", "data": {"text": "a\u0000b"}}),
])
@pytest.mark.parametrize("idempotency_key", [None, "nul-1"])
async def test_text_the_database_cannot_store_is_a_422_problem(client, app_key, path, body, idempotency_key):
    headers = {**auth(app_key[1]), **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unstorable_text"
    fine = await client.post(path, json={**body, **{k: {"text": "ab"} for k in ("input", "data", "metadata") if k in body}},
                             headers=headers | ({"Idempotency-Key": "nul-2"} if idempotency_key else {}))
    assert fine.status_code == 202
