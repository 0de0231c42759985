"""monitor: the summary of the receiver-side timeliness counts (monitor_summary), filled from the obligations

A year of a national monitor's receiver-side timeliness read row by row is seconds of work at 10 million
obligations; the answers add up this summary instead (exchange/adapters/sql/monitor_summary.py; tests/benchmarks/,
figure 3). A monitor upgraded with obligations already stored gets its summary computed here, with the
same statement as `mpx monitor rebuild-summary`, so its answers stay exactly the same.

Revision ID: 0010_monitor_summary
Revises: 0009_bench_indexes
Create Date: 2026-12-03 09:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_monitor_summary'
down_revision = '0009_bench_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'monitor_summary',
        sa.Column('due_day', sa.Date(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('receiver', sa.String(length=6), nullable=False),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_version', sa.Integer(), nullable=False),
        sa.Column('message_type', sa.String(length=32), nullable=False),
        sa.Column('response_days', sa.Integer(), nullable=False),
        sa.Column('cancelled', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('late', sa.Integer(), nullable=False),
        sa.Column('open', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('due_day', 'due_at', 'receiver', 'agreement_id', 'agreement_version',
                                'message_type', 'response_days', name=op.f('pk_monitor_summary')),
    )
    op.execute(
        "INSERT INTO monitor_summary (due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
        "response_days, cancelled, on_time, late, \"open\", paused) "
        "SELECT due_day, due_at, receiver, agreement_id, agreement_version, message_type, "
        "CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND response_working_days IS NOT NULL "
        "THEN response_working_days ELSE -1 END AS days, "
        "count(CASE WHEN cancelled_at IS NOT NULL THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at <= due_at THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NOT NULL AND answered_at > due_at THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND NOT paused THEN 1 END), "
        "count(CASE WHEN cancelled_at IS NULL AND answered_at IS NULL AND paused THEN 1 END) "
        "FROM monitor_obligations "
        "GROUP BY due_day, due_at, receiver, agreement_id, agreement_version, message_type, days")


def downgrade() -> None:
    op.drop_table('monitor_summary')
