"""Shared fixtures: a migrated PostgreSQL template cloned per test, and a Redis database.

Integration and end-to-end tests use the real services on localhost (HOOKRELAY_TEST_PG_URL and
HOOKRELAY_TEST_REDIS_URL override where they are). Unit tests use none of this.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
import redis

PG_ADMIN_URL = os.environ.get("HOOKRELAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Redis database 9 by default; a second test run on the same machine at the same time gets its
# own database (by process id) so that its workers cannot take the first run's messages.
REDIS_URL = os.environ.get("HOOKRELAY_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{9 + os.getpid() % 7}")
# Per test run, so that two runs on one machine (a developer's and CI's) never share one.
TEMPLATE_DB = f"hookrelay_test_template_{os.getpid()}"


def _server_part() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg://{_server_part()}/{database}"


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


@pytest.fixture(scope="session")
def pg_template() -> str:
    from hookrelay.db.migrations import upgrade

    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
    _admin(f"CREATE DATABASE {TEMPLATE_DB}")
    upgrade(sqlalchemy_url(TEMPLATE_DB))
    yield TEMPLATE_DB
    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


@pytest.fixture
def database_url(pg_template: str) -> str:
    """A fresh, migrated database for this test (a clone of the template)."""
    name = f"hookrelay_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield sqlalchemy_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL
