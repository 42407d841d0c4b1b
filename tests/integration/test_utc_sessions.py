"""hookrelay's PostgreSQL sessions run in UTC whatever the server's default, so the rows the
workers read through psycopg directly come back in ``datetime.UTC`` without a conversion;
options given in the database URL (once or several times) still apply, and a claim made on a
session in another zone is still converted."""

from __future__ import annotations

from datetime import UTC, timedelta

import psycopg
import pytest

from hookrelay.db.engine import Database
from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.types import utcnow
from hookrelay.services.endpoints import create_endpoint, rotate_secret
from hookrelay.services.events import publish_event
from tests.conftest import _admin

pytestmark = pytest.mark.integration


@pytest.fixture
def new_york_database_url(database_url: str) -> str:
    """The test's database with a server-side default zone that is not UTC."""
    name = database_url.rsplit("/", 1)[1]
    _admin(f"ALTER DATABASE {name} SET timezone = 'America/New_York'")
    return database_url


async def _session_settings(database: Database) -> tuple[str, str, object, object]:
    async with database.driver_connection(autocommit=True) as driver:
        (zone,) = await (await driver.execute("SHOW timezone")).fetchone()
        (timeout,) = await (await driver.execute("SHOW statement_timeout")).fetchone()
        (now,) = await (await driver.execute("SELECT now()")).fetchone()
        return zone, timeout, now.tzinfo, driver.info.timezone


async def test_sessions_are_in_utc_whatever_the_server_default(new_york_database_url: str) -> None:
    database = Database(new_york_database_url)
    try:
        zone, _, returned_zone, connection_zone = await _session_settings(database)
    finally:
        await database.engine.dispose()
    assert zone == "UTC"
    assert returned_zone is UTC and connection_zone is UTC


@pytest.mark.parametrize("query", [
    "options=-c%20statement_timeout%3D4321",
    "options=-c%20statement_timeout%3D4321&options=-c%20lock_timeout%3D1234",
])
async def test_options_in_the_url_are_kept(new_york_database_url: str, query: str) -> None:
    database = Database(f"{new_york_database_url}?{query}")
    try:
        zone, timeout, _, _ = await _session_settings(database)
    finally:
        await database.engine.dispose()
    assert (zone, timeout) == ("UTC", "4321ms")


@pytest.fixture
def settings(settings):
    return settings.with_overrides(allow_private_targets=True)


async def test_a_claim_on_a_session_in_another_zone_still_returns_utc(services, app_key) -> None:
    """``claim_direct`` converts only when the connection is not hookrelay's own (UTC) kind."""
    endpoint = await create_endpoint(services, app_id=app_key[0], fields={"url": "http://127.0.0.1:9/hook"})
    # A rotated secret: the claimed row then carries a timestamp (until when the old one signs).
    await rotate_secret(services, app_id=app_key[0], endpoint_id=endpoint["id"])
    _, body, _ = await publish_event(services, app_id=app_key[0], event_type="order.created", data={})
    conninfo = services.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, options="-c TimeZone=America/New_York"
    ) as elsewhere:
        assert elsewhere.info.timezone is not UTC
        (row,) = await deliveries_repo.claim_direct(
            elsewhere, [body["deliveries"][0]["id"]], now=utcnow(), lease=timedelta(seconds=30)
        )
    assert row["endpoint_previous_secret_expires_at"].tzinfo is UTC
