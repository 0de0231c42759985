"""sealing keys: each county's X25519 keys for payloads sealed end to end, and those learned from the keys topic

Revision ID: 0014_sealing_keys
Revises: 0013_key_revocations
Create Date: 2026-12-04 19:00:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0014_sealing_keys'
down_revision = '0013_key_revocations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sealing_keys',
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('key_id', sa.String(length=80), nullable=False),
        sa.Column('private_key', sa.Text(), nullable=False),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('not_before', UtcDateTime(), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('county', 'key_id', name=op.f('pk_sealing_keys')),
    )
    op.create_table(
        'county_sealing_keys',
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('key_id', sa.String(length=80), nullable=False),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('not_before', UtcDateTime(), nullable=False),
        sa.Column('learned_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('county', 'key_id', name=op.f('pk_county_sealing_keys')),
    )


def downgrade() -> None:
    op.drop_table('county_sealing_keys')
    op.drop_table('sealing_keys')
