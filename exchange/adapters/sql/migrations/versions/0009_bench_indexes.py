"""monitor: partial indexes for the overdue count and the sender-side cohort

The overdue answer counts every open obligation past its deadline. Over the whole table that is a scan
of millions of rows (about 1 s at 10 million on a 2-core machine); over this index, which holds only the
open, unpaused obligations, it is an index-only scan of the open ones (about 35 ms). The sender-side timeliness selects by sender_due_day, which had no index (a
scan of the whole table, about 1 s at 10 million); only records with a sender-side deadline are indexed.
See tests/benchmarks/ (figure 3).

Revision ID: 0009_bench_indexes
Revises: 0005_signing
Create Date: 2026-11-22 15:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_bench_indexes'
down_revision = '0005_signing'
branch_labels = None
depends_on = None

OPEN = "answered_at IS NULL AND cancelled_at IS NULL AND paused IS false"
OPEN_SQLITE = "answered_at IS NULL AND cancelled_at IS NULL AND paused IS 0"
SENDER = "sender_due_day IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_obligations_overdue', ['due_at'], unique=False,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN_SQLITE))
        batch_op.create_index('ix_monitor_obligations_sender_due', ['sender_due_day'], unique=False,
                              postgresql_where=sa.text(SENDER), sqlite_where=sa.text(SENDER))


def downgrade() -> None:
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_obligations_sender_due')
        batch_op.drop_index('ix_monitor_obligations_overdue')
