"""hookrelay's PostgreSQL sessions run in UTC whatever the server's default, so the rows the
workers read through psycopg directly come back in ``datetime.UTC`` without a conversion, and
options given in the database URL still apply."""

from __future__ import annotations

from datetime import UTC

import pytest

from hookrelay.db.engine import Database
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


async def test_options_in_the_url_are_kept(new_york_database_url: str) -> None:
    database = Database(f"{new_york_database_url}?options=-c%20statement_timeout%3D4321")
    try:
        zone, timeout, _, _ = await _session_settings(database)
    finally:
        await database.engine.dispose()
    assert (zone, timeout) == ("UTC", "4321ms")
