from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from hookrelay.api.app import create_app
from hookrelay.db.engine import Database
from hookrelay.queue.notify import InProcessNotifier
from hookrelay.services.applications import create_application
from hookrelay.services.context import Services
from hookrelay.settings import load_settings

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "test-admin-token"


class RecordingEnqueuer:
    """Stands in for the broker in in-process API tests: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []

    def __call__(self, job_id: str, delay_seconds: float) -> None:
        self.sent.append((job_id, delay_seconds))


class RecordingDeliveryEnqueuer:
    def __init__(self) -> None:
        self.sent: list[tuple[list[str], float]] = []

    def __call__(self, delivery_ids: list[str], delay_seconds: float = 0) -> None:
        self.sent.append((list(delivery_ids), delay_seconds))


@pytest.fixture
def settings(database_url: str, redis_url: str):
    return load_settings({}).with_overrides(
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key",
        admin_token=ADMIN_TOKEN,
        max_payload_bytes=4096,
        log_format="json",
    )


@pytest.fixture
async def services(settings):
    database = Database(settings.database_url)
    yield Services(
        settings=settings, database=database, notifier=InProcessNotifier(), enqueue_job=RecordingEnqueuer(),
        enqueue_deliveries=RecordingDeliveryEnqueuer(),
    )
    await database.dispose()


@pytest.fixture
async def client(settings, services):
    app = create_app(settings, services=services, refresh_gauges=False)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def app_key(services) -> tuple[str, str]:
    created = await create_application(services.database, "acme")
    return created["id"], created["api_key"]


@pytest.fixture
async def other_app_key(services) -> tuple[str, str]:
    created = await create_application(services.database, "globex")
    return created["id"], created["api_key"]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
