"""withdrawal (撤回): messages.withdrawn_at; the monitor's obligations keep their cancel reason and its summary
counts the withdrawn ones apart (of the cancelled)

Obligations a monitor stored before keep no reason (NULL) and count as cancelled, not withdrawn: the summary stays
equal to a recount (exchange/adapters/sql/monitor_summary.py), so no rebuild is needed.

Revision ID: 0017_withdrawal
Revises: 0016_peer_chain_heads
Create Date: 2026-12-04 23:00:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0017_withdrawal'
down_revision = '0016_peer_chain_heads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', UtcDateTime(), nullable=True))
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=32), nullable=True))
    with op.batch_alter_table('monitor_summary', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn', sa.Integer(), nullable=False, server_default=sa.text('0')))


def downgrade() -> None:
    with op.batch_alter_table('monitor_summary', schema=None) as batch_op:
        batch_op.drop_column('withdrawn')
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
