"""monitor clarification figures: monitor_obligations.pause_count (how many times the clock was paused, from the
lifecycle events), and the summary's clarified count and paused working days (of the obligations not cancelled)

A pause of no working day (asked and answered the same day, or over a weekend) leaves no trace in `paused` and
`paused_working_days` once resumed, so the events now carry `pause_count`. Obligations a monitor stored before keep
0 there and count as clarified when paused or paused for some working days (exchange.domain.figures.clarified);
the summary is recomputed here with the statement of `mpx monitor rebuild-summary`, so it stays equal to a recount.

Revision ID: 0019_monitor_clarification
Revises: 0018_verification
Create Date: 2026-12-05 01:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0019_monitor_clarification'
down_revision = '0018_verification'
branch_labels = None
depends_on = None

_LIVE = "cancelled_at IS NULL"
_CLARIFIED = f"{_LIVE} AND (pause_count > 0 OR paused OR paused_working_days > 0)"


def upgrade() -> None:
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pause_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('monitor_summary', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clarified', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('paused_working_days', sa.Integer(), nullable=False,
                                      server_default=sa.text('0')))
    op.execute("DELETE FROM monitor_summary")
    op.execute(
        "INSERT INTO monitor_summary (due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
        "response_days, urgency, cancelled, on_time, late, \"open\", paused, withdrawn, clarified, "
        "paused_working_days) "
        "SELECT due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
        "CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND response_working_days IS NOT NULL "
        "THEN response_working_days ELSE -1 END AS days, coalesce(urgency, '') AS urg, "
        "count(CASE WHEN cancelled_at IS NOT NULL THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at <= due_at THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at > due_at THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND NOT paused THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND paused THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NOT NULL AND cancel_reason = 'withdrawn' THEN 1 END), "
        f"count(CASE WHEN {_CLARIFIED} THEN 1 END), "
        f"coalesce(sum(CASE WHEN {_CLARIFIED} THEN paused_working_days ELSE 0 END), 0) "
        "FROM monitor_obligations "
        "GROUP BY due_day, due_at, receiver, agreement_id, agreement_version, message_type, days, urg")


def downgrade() -> None:
    with op.batch_alter_table('monitor_summary', schema=None) as batch_op:
        batch_op.drop_column('paused_working_days')
        batch_op.drop_column('clarified')
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.drop_column('pause_count')
