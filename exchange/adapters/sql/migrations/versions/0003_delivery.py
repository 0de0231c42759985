"""delivery guarantees: relay leases, quarantine replay, reconciliation

Revision ID: 0003_delivery
Revises: 0002_obligations
Create Date: 2026-11-22 15:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_delivery'
down_revision = '0002_obligations'
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbox_partition_pending', ['topic', 'partition', 'published_at'], unique=False)

    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replay_result', sa.String(length=64), nullable=True))

    op.create_table('reconciliation',
    sa.Column('seq', Seq, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('peer', sa.String(length=6), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('digest_id', sa.String(length=64), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('missing', sa.Integer(), nullable=False),
    sa.Column('missing_ids', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_reconciliation'))
    )
    with op.batch_alter_table('reconciliation', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_day', ['county', 'peer', 'day'], unique=False)

    op.create_table('reconciliation_runs',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_by', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_reconciliation_runs'))
    )


def downgrade() -> None:
    op.drop_table('reconciliation_runs')
    with op.batch_alter_table('reconciliation', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_day')
    op.drop_table('reconciliation')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_column('replay_result')
        batch_op.drop_column('replayed_at')
        batch_op.drop_column('key')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_partition_pending')
        batch_op.drop_column('claim_expires_at')
        batch_op.drop_column('claimed_by')
