"""monitor: the sender-side summary (monitor_sender_summary), filled from the obligations

The sender-side timeliness counts, per (sender-side due day, sender, agreement, type), of the obligations
with a sender-side deadline that are not cancelled; the answers add these up (exchange/adapters/sql/monitor_summary.py).
A monitor upgraded with obligations already stored gets them computed here, as the rebuild does.

Revision ID: 0011_monitor_sender_summary
Revises: 0010_monitor_summary
Create Date: 2026-12-03 09:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_monitor_sender_summary'
down_revision = '0010_monitor_summary'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'monitor_sender_summary',
        sa.Column('sender_due_day', sa.Date(), nullable=False),
        sa.Column('sender', sa.String(length=6), nullable=False),
        sa.Column('agreement_id', sa.String(length=64), nullable=False),
        sa.Column('agreement_version', sa.Integer(), nullable=False),
        sa.Column('message_type', sa.String(length=32), nullable=False),
        sa.Column('due', sa.Integer(), nullable=False),
        sa.Column('late', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('sender_due_day', 'sender', 'agreement_id', 'agreement_version', 'message_type',
                                name=op.f('pk_monitor_sender_summary')),
    )
    op.execute(
        "INSERT INTO monitor_sender_summary (sender_due_day, sender, agreement_id, agreement_version, "
        "message_type, due, late) "
        "SELECT sender_due_day, sender, agreement_id, agreement_version, message_type, count(*), "
        "count(CASE WHEN sender_late THEN 1 END) "
        "FROM monitor_obligations WHERE sender_due_day IS NOT NULL AND cancelled_at IS NULL "
        "GROUP BY sender_due_day, sender, agreement_id, agreement_version, message_type")


def downgrade() -> None:
    op.drop_table('monitor_sender_summary')
