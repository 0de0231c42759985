"""evidence: heads of peer nodes' chains, from their delivery receipts (1.1)

Revision ID: 0016_peer_chain_heads
Revises: 0014_sealing_keys
Create Date: 2026-12-04 19:00:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0016_peer_chain_heads'
down_revision = '0014_sealing_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'peer_chain_heads',
        sa.Column('node_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('peer', sa.String(length=6), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('received_at', UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('node_id', 'seq', name=op.f('pk_peer_chain_heads')),
    )


def downgrade() -> None:
    op.drop_table('peer_chain_heads')
