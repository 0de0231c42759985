"""verification requests (协查): obligations and the monitor's copy keep a verification request's urgency; the
monitor's summary counts per urgency too ("" for a record)

The urgency joins the summary's key, so the summary is made again with the new key and filled from the monitor's
obligations, as migration 0010 filled it (`mpx monitor rebuild-summary` computes the same): every obligation stored
before is a record, with urgency "".

Revision ID: 0018_verification
Revises: 0017_withdrawal
Create Date: 2026-12-05 01:30:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0018_verification'
down_revision = '0017_withdrawal'
branch_labels = None
depends_on = None

_KEY = ('due_day', 'due_at', 'receiver', 'agreement_id', 'agreement_version', 'message_type', 'response_days')
_FILL = (
    "INSERT INTO monitor_summary (due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
    "response_days, {urgency_column}cancelled, on_time, late, \"open\", paused, withdrawn) "
    "SELECT due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
    "CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND response_working_days IS NOT NULL "
    "THEN response_working_days ELSE -1 END AS days, {urgency_value}"
    "count(CASE WHEN cancelled_at IS NOT NULL THEN 1 END), "
    "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at <= due_at THEN 1 END), "
    "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at > due_at THEN 1 END), "
    "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND NOT paused THEN 1 END), "
    "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND paused THEN 1 END), "
    "count(CASE WHEN cancelled_at IS NOT NULL AND cancel_reason = 'withdrawn' THEN 1 END) "
    "FROM monitor_obligations "
    "GROUP BY due_day, due_at, receiver, agreement_id, agreement_version, message_type, days{urgency_group}")


def _summary(with_urgency: bool) -> None:
    """(Re)create monitor_summary, keyed with or without the urgency, and fill it from monitor_obligations."""
    op.drop_table('monitor_summary')
    op.create_table(
        'monitor_summary',
        sa.Column('due_day', sa.Date(), nullable=False),
        sa.Column('due_at', UtcDateTime(), nullable=False),
        sa.Column('receiver', sa.String(length=6), nullable=False),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_version', sa.Integer(), nullable=False),
        sa.Column('message_type', sa.String(length=32), nullable=False),
        sa.Column('response_days', sa.Integer(), nullable=False),
        *([sa.Column('urgency', sa.String(length=32), nullable=False)] if with_urgency else []),
        sa.Column('cancelled', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('late', sa.Integer(), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Integer(), nullable=False),
        sa.Column('withdrawn', sa.Integer(), nullable=False, server_default=sa.text('0')),
        sa.PrimaryKeyConstraint(*_KEY, *(('urgency',) if with_urgency else ()), name=op.f('pk_monitor_summary')),
    )
    op.execute(_FILL.format(
        urgency_column="urgency, " if with_urgency else "",
        urgency_value="coalesce(urgency, '') AS urg, " if with_urgency else "",
        urgency_group=", urg" if with_urgency else ""))


def upgrade() -> None:
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgency', sa.String(length=32), nullable=True))
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgency', sa.String(length=32), nullable=True))
    _summary(with_urgency=True)


def downgrade() -> None:
    # Verification requests leave the monitor's figures with their column (a summary without urgency cannot
    # tell them apart from records).
    op.execute("DELETE FROM monitor_obligations WHERE urgency IS NOT NULL")
    _summary(with_urgency=False)
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.drop_column('urgency')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.drop_column('urgency')
