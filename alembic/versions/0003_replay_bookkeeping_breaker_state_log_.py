"""replay bookkeeping, breaker state, log indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:39:11.776174
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hookrelay.db.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_base', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_trigger', sa.String(length=16), server_default='scheduled', nullable=False))
        batch_op.create_index('ix_deliveries_app_id_event_type_id', ['app_id', 'event_type', 'id'], unique=False)
        batch_op.create_index('ix_deliveries_app_id_status_id', ['app_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_deliveries_dead', ['app_id', 'dead_reason', 'id'], unique=False, postgresql_where=sa.text("status = 'dead'"), sqlite_where=sa.text("status = 'dead'"))

    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('breaker_state', sa.String(length=16), server_default='closed', nullable=False))
        batch_op.add_column(sa.Column('breaker_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('breaker_opened_at', hookrelay.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('breaker_retry_at', hookrelay.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('breaker_cooldown_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('breaker_probe_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('breaker_probe_expires_at', hookrelay.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_success_at', hookrelay.db.types.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        batch_op.drop_column('last_success_at')
        batch_op.drop_column('breaker_probe_expires_at')
        batch_op.drop_column('breaker_probe_id')
        batch_op.drop_column('breaker_cooldown_seconds')
        batch_op.drop_column('breaker_retry_at')
        batch_op.drop_column('breaker_opened_at')
        batch_op.drop_column('breaker_failures')
        batch_op.drop_column('breaker_state')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_dead', postgresql_where=sa.text("status = 'dead'"), sqlite_where=sa.text("status = 'dead'"))
        batch_op.drop_index('ix_deliveries_app_id_status_id')
        batch_op.drop_index('ix_deliveries_app_id_event_type_id')
        batch_op.drop_column('next_trigger')
        batch_op.drop_column('retry_base')

