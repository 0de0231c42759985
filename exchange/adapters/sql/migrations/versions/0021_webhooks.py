"""webhook push (推送): subscriptions, deliveries (an outbox of their own) and their attempts

Revision ID: 0021_webhooks
Revises: 0020_roster
Create Date: 2026-12-05 05:00:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0021_webhooks'
down_revision = '0020_roster'
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('kinds', sa.String(length=128), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('disabled_reason', sa.String(length=300), nullable=True),
        sa.Column('failing_since', UtcDateTime(), nullable=True),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_by', sa.String(length=128), nullable=True),
        sa.Column('claim_expires_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_index('ix_webhook_subscriptions_county', 'webhook_subscriptions', ['county'], unique=False)
    op.create_table(
        'webhook_deliveries',
        sa.Column('seq', SEQ, autoincrement=True, nullable=False),
        sa.Column('subscription_id', sa.String(length=32), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('sender', sa.String(length=6), nullable=True),
        sa.Column('receiver', sa.String(length=6), nullable=True),
        sa.Column('message_id', sa.String(length=64), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UtcDateTime(), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('finished_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_deliveries_subscription_id_event_id')),
    )
    op.create_index('ix_webhook_deliveries_queue', 'webhook_deliveries', ['subscription_id', 'state', 'seq'],
                    unique=False)
    op.create_table(
        'webhook_attempts',
        sa.Column('seq', SEQ, autoincrement=True, nullable=False),
        sa.Column('delivery_seq', sa.BigInteger(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('at', UtcDateTime(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_webhook_attempts')),
    )
    op.create_index('ix_webhook_attempts_delivery', 'webhook_attempts', ['delivery_seq', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_attempts_delivery', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_deliveries_queue', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_webhook_subscriptions_county', table_name='webhook_subscriptions')
    op.drop_table('webhook_subscriptions')
