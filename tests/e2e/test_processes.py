"""The processes themselves: start-up checks, `hookrelay dev`, `apps create`, operational routes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import REDIS_URL, _admin, sqlalchemy_url
from tests.e2e.conftest import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.e2e


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")}
    return {**env, **extra}


def run_hookrelay(*arguments: str, env: dict[str, str], cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hookrelay", *arguments],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def empty_database_url():
    name = f"hookrelay_empty_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    yield sqlalchemy_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_dev_runs_a_job_to_completion_in_an_empty_folder_without_services(tmp_path):
    from tests.e2e.receiver import Receiver

    receiver = Receiver()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hookrelay", "dev", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=_clean_env(HOOKRELAY_LOG_FORMAT="json"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        banner, api_key = "", None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and api_key is None:
            line = process.stdout.readline()
            if not line:
                break
            banner += line
            found = re.search(r"API key:\s+(hr_\S+)", line)
            api_key = found.group(1) if found else None
        assert api_key, banner
        assert f"http://127.0.0.1:{port}" in banner
        assert "Admin token:" in banner
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {api_key}"})
        endpoint = client.post("/v1/endpoints", json={"url": receiver.url("/dev"), "event_types": ["job.*"]}).json()
        receiver.set_secret("/dev", endpoint["secret"])
        response = client.post("/v1/jobs", json={"type": "demo.sleep", "input": {"seconds": 0.5, "steps": 2}})
        assert response.status_code == 202
        job = client.get(response.headers["location"], params={"wait": 20}).json()
        assert job["status"] == "completed", job
        assert job["result"] == {"slept_seconds": 0.5, "steps": 2}
        assert (tmp_path / "hookrelay.db").exists()
        # The embedded mode delivers too: the job's job.completed webhook arrives, signed.
        [webhook] = receiver.wait_for("/dev", 1, timeout=20)
        assert webhook.verified and webhook.json()["type"] == "job.completed"
        assert webhook.json()["data"]["id"] == job["id"]
    finally:
        receiver.stop()
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("command", ["api", "worker", "scheduler"])
def test_production_processes_refuse_to_start_without_redis(command, empty_database_url):
    result = run_hookrelay(
        command, env=_clean_env(HOOKRELAY_DATABASE_URL=empty_database_url, HOOKRELAY_ADMIN_TOKEN="a",
                                HOOKRELAY_SECRET_KEY="s"),
    )
    assert result.returncode != 0
    assert "HOOKRELAY_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_processes_refuse_a_schema_that_is_behind(empty_database_url):
    env = _clean_env(HOOKRELAY_DATABASE_URL=empty_database_url, HOOKRELAY_REDIS_URL=REDIS_URL,
                     HOOKRELAY_ADMIN_TOKEN="a", HOOKRELAY_SECRET_KEY="s", HOOKRELAY_BIND=f"127.0.0.1:{free_port()}")
    refused = run_hookrelay("api", env=env)
    assert refused.returncode != 0
    assert "hookrelay db upgrade" in refused.stderr
    upgraded = run_hookrelay("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    created = run_hookrelay("apps", "create", "acme", "--json", env=env)
    assert created.returncode == 0, created.stderr
    assert '"api_key": "hr_' in created.stdout


def test_a_bad_setting_stops_the_process_naming_the_variable(empty_database_url):
    env = _clean_env(HOOKRELAY_DATABASE_URL=empty_database_url, HOOKRELAY_REDIS_URL=REDIS_URL,
                     HOOKRELAY_ADMIN_TOKEN="a", HOOKRELAY_SECRET_KEY="s", HOOKRELAY_JOB_LEASE="ten seconds")
    result = run_hookrelay("api", env=env)
    assert result.returncode != 0
    assert "HOOKRELAY_JOB_LEASE" in result.stderr
    assert "Traceback" not in result.stderr


def test_apps_create_prints_a_key_the_api_accepts(stack):
    result = run_hookrelay("apps", "create", "cli-made", env=stack.env)
    assert result.returncode == 0, result.stderr
    api_key = re.search(r"(hr_\S+)", result.stdout).group(1)
    response = httpx.get(stack.base_url + "/v1/jobs", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200


def test_operational_routes(stack):
    assert httpx.get(stack.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(stack.base_url + "/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok", "schema": "ok"}
    schema = httpx.get(stack.base_url + "/schema/openapi.json").json()
    assert "/v1/jobs" in schema["paths"] and "/v1/jobs/{job_id}" in schema["paths"]
    assert httpx.get(stack.base_url + "/schema").status_code == 200
    metrics = httpx.get(stack.base_url + "/metrics").text
    assert "hookrelay_requests_total" in metrics
    assert "hookrelay_dlq_size" in metrics and "hookrelay_open_breakers" in metrics


def test_admin_keys_can_be_added_and_revoked(stack):
    admin = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    created = admin.post("/v1/admin/applications", json={"name": "keys-test"}).json()
    assert created["id"].startswith("app_") and created["api_key"].startswith("hr_")
    assert any(app["id"] == created["id"] for app in admin.get("/v1/admin/applications").json()["data"])
    second = admin.post(f"/v1/admin/applications/{created['id']}/keys").json()
    headers = {"Authorization": f"Bearer {second['api_key']}"}
    assert httpx.get(stack.base_url + "/v1/jobs", headers=headers).status_code == 200
    assert admin.delete(f"/v1/admin/keys/{second['id']}").status_code == 204
    assert httpx.get(stack.base_url + "/v1/jobs", headers=headers).status_code == 401
    assert admin.post("/v1/admin/applications/app_missing/keys").status_code == 404
    assert httpx.get(stack.base_url + "/v1/admin/applications", headers=headers).status_code == 401
    assert admin.post("/v1/admin/applications", json={"name": ""}).status_code == 422


def test_no_key_or_token_appears_in_any_log_line(stack):
    api_key = stack.create_app("log-check")
    headers = {"Authorization": f"Bearer {api_key}"}
    httpx.post(stack.base_url + "/v1/jobs", json={"type": "demo.echo", "input": {"k": api_key}}, headers=headers)
    httpx.get(stack.base_url + "/v1/jobs", headers={"Authorization": f"Bearer {api_key}x"})
    time.sleep(1)
    logs = stack.logs()
    assert "http_request" in logs
    assert api_key not in logs
    assert ADMIN_TOKEN not in logs
