"""deliveries: room on each page for the lease update to stay HOT

A worker's lease (``claim``) changes only ``locked_until``, which no index covers, so PostgreSQL
can write the new row version on the same page without touching the table's nine indexes (a
HOT update), but only if the page has room. Filled to 100%, almost none did: one drain of 20,000
deliveries (``python -m bench.cpu_split drain``) made 40,000 updates of which 1,083 were HOT.
At fillfactor 70, about 9,000 were; at 60, 14,500; at 50, all 20,000 leases. 60 is the middle:
most leases skip the indexes (PostgreSQL's CPU per delivery fell by about a seventh) for pages
that hold about a third fewer rows. PostgreSQL only (SQLite has no such setting); it applies to
pages written from now on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

DELIVERIES_FILLFACTOR = 60


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE deliveries SET (fillfactor = {DELIVERIES_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
