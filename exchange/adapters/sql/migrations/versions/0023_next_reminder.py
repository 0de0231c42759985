"""obligations.next_reminder_at: the reminder round reads only the obligations with a reminder due

Revision ID: 0023_next_reminder
Revises: 0022_people
Create Date: 2026-12-05 08:20:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0023_next_reminder'
down_revision = '0022_people'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('obligations') as batch_op:
        batch_op.add_column(sa.Column('next_reminder_at', UtcDateTime(), nullable=True))
        batch_op.create_index('ix_obligations_next_reminder', ['next_reminder_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('obligations') as batch_op:
        batch_op.drop_index('ix_obligations_next_reminder')
        batch_op.drop_column('next_reminder_at')
