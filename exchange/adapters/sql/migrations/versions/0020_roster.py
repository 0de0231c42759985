"""monthly roster check (定期清查): the rosters and their discrepancies at the nodes (both sides), their figures at
the monitor

Revision ID: 0020_roster
Revises: 0019_monitor_clarification
Create Date: 2026-12-05 01:00:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0020_roster'
down_revision = '0019_monitor_clarification'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rosters',
        sa.Column('side', sa.String(length=12), nullable=False),
        sa.Column('roster_id', sa.String(length=64), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('registration_county', sa.String(length=6), nullable=False),
        sa.Column('residence_county', sa.String(length=6), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('sent_at', UtcDateTime(), nullable=False),
        sa.Column('answered_at', UtcDateTime(), nullable=True),
        sa.Column('still_here', sa.Integer(), nullable=True),
        sa.Column('left', sa.Integer(), nullable=True),
        sa.Column('never_arrived', sa.Integer(), nullable=True),
        sa.Column('unknown', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('side', 'registration_county', 'roster_id', name=op.f('pk_rosters')),
    )
    op.create_index('ix_rosters_month', 'rosters', ['month', 'registration_county', 'residence_county'],
                    unique=False)
    op.create_table(
        'roster_discrepancies',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('side', sa.String(length=12), nullable=False),
        sa.Column('registration_county', sa.String(length=6), nullable=False),
        sa.Column('registration_id', sa.String(length=64), nullable=False),
        sa.Column('residence_county', sa.String(length=6), nullable=False),
        sa.Column('roster_id', sa.String(length=64), nullable=False),
        sa.Column('finding', sa.String(length=16), nullable=False),
        sa.Column('new_region', sa.String(length=6), nullable=True),
        sa.Column('person_key', sa.String(length=64), nullable=True),
        sa.Column('found_at', UtcDateTime(), nullable=False),
        sa.Column('resolved_at', UtcDateTime(), nullable=True),
        sa.Column('resolved_by', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('month', 'side', 'registration_county', 'registration_id',
                                name=op.f('pk_roster_discrepancies')),
    )
    op.create_index('ix_roster_discrepancies_open', 'roster_discrepancies',
                    ['resolved_at', 'registration_county', 'registration_id'], unique=False)
    op.create_table(
        'monitor_roster',
        sa.Column('roster_id', sa.String(length=64), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('registration_county', sa.String(length=6), nullable=False),
        sa.Column('residence_county', sa.String(length=6), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('answered_at', UtcDateTime(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('still_here', sa.Integer(), nullable=False),
        sa.Column('left', sa.Integer(), nullable=False),
        sa.Column('never_arrived', sa.Integer(), nullable=False),
        sa.Column('unknown', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('registration_county', 'roster_id', name=op.f('pk_monitor_roster')),
    )
    op.create_index('ix_monitor_roster_month', 'monitor_roster', ['month'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_monitor_roster_month', table_name='monitor_roster')
    op.drop_table('monitor_roster')
    op.drop_index('ix_roster_discrepancies_open', table_name='roster_discrepancies')
    op.drop_table('roster_discrepancies')
    op.drop_index('ix_rosters_month', table_name='rosters')
    op.drop_table('rosters')
