"""obligations, reminders, agreements, calendar overrides, monitor

Revision ID: 0002_obligations
Revises: 0001
Create Date: 2026-11-22 14:22:31.559897
"""
import sqlalchemy as sa
from alembic import op

revision = '0002_obligations'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreements',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'version', name=op.f('pk_agreements'))
    )
    op.create_table('calendar_overrides',
    sa.Column('region', sa.String(length=6), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('region', 'day', name=op.f('pk_calendar_overrides'))
    )
    op.create_table('monitor_obligations',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('sender', sa.String(length=6), nullable=False),
    sa.Column('receiver', sa.String(length=6), nullable=False),
    sa.Column('agreement_id', sa.String(length=64), nullable=False),
    sa.Column('agreement_version', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_day', sa.Date(), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response_working_days', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_working_days', sa.Integer(), nullable=False),
    sa.Column('sender_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sender_due_day', sa.Date(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sender_late', sa.Boolean(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_monitor_obligations'))
    )
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_obligations_due', ['due_day'], unique=False)
        batch_op.create_index('ix_monitor_obligations_open', ['answered_at', 'cancelled_at', 'due_at'], unique=False)

    op.create_table('obligations',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('sender', sa.String(length=6), nullable=False),
    sa.Column('receiver', sa.String(length=6), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_obligations'))
    )
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.create_index('ix_obligations_open', ['receiver', 'answered_at', 'cancelled_at', 'due_at'], unique=False)
        batch_op.create_index('ix_obligations_person', ['person_key'], unique=False)

    op.create_table('reminders',
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('receiver', sa.String(length=6), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fire_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('emitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id', 'kind', name=op.f('pk_reminders'))
    )
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index('ix_reminders_receiver', ['receiver', 'emitted_at'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('message_id',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=80),
               existing_nullable=False)
        batch_op.alter_column('key',
               existing_type=sa.VARCHAR(length=6),
               type_=sa.String(length=80),
               existing_nullable=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('key',
               existing_type=sa.String(length=80),
               type_=sa.VARCHAR(length=6),
               existing_nullable=False)
        batch_op.alter_column('message_id',
               existing_type=sa.String(length=80),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)

    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_reminders_receiver')

    op.drop_table('reminders')
    with op.batch_alter_table('obligations', schema=None) as batch_op:
        batch_op.drop_index('ix_obligations_person')
        batch_op.drop_index('ix_obligations_open')

    op.drop_table('obligations')
    with op.batch_alter_table('monitor_obligations', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_obligations_open')
        batch_op.drop_index('ix_monitor_obligations_due')

    op.drop_table('monitor_obligations')
    op.drop_table('calendar_overrides')
    op.drop_table('agreements')
