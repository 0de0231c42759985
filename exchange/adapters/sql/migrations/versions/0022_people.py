"""people who sign in to the workbench and the dashboard, and their sessions

Revision ID: 0022_people
Revises: 0020_roster
Create Date: 2026-12-05 04:30:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0022_people'
down_revision = '0020_roster'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'people',
        sa.Column('account', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('counties', sa.Text(), nullable=False),
        sa.Column('provinces', sa.Text(), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('locked_until', UtcDateTime(), nullable=True),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('disabled_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('account', name=op.f('pk_people')),
    )
    op.create_table(
        'person_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('account', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', UtcDateTime(), nullable=False),
        sa.Column('expires_at', UtcDateTime(), nullable=False),
        sa.Column('ended_at', UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_person_sessions')),
    )
    op.create_index(op.f('ix_person_sessions_account'), 'person_sessions', ['account'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_person_sessions_account'), table_name='person_sessions')
    op.drop_table('person_sessions')
    op.drop_table('people')
