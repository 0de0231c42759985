"""identity per sender: a message is (sending county, id) in every table that names one

Ids are chosen by the sending county's systems, so two counties may use the same one. The inbox (the
consumer's deduplication), messages' uniqueness, obligations, reminders and the monitor's copy of obligations
are keyed by (id, sender) from here on. Existing rows keep their data: the inbox and reminders get the sender
from the message or obligation they belong to; inbox rows of records that are no stored message (delivery
receipts, reconciliation records) get sender "" (a copy of one of those arriving again after the upgrade is
taken as new: a receipt or digest handled twice changes nothing).

Revision ID: 0012_identity_per_sender
Revises: 0011_monitor_sender_summary
Create Date: 2026-12-04 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_identity_per_sender'
down_revision = '0011_monitor_sender_summary'
branch_labels = None
depends_on = None


def _primary_key(table: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'pk_{table}'), type_='primary')
        batch_op.create_primary_key(op.f(f'pk_{table}'), columns)


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_messages_id_direction'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_messages_id_direction_sender'), ['id', 'direction', 'sender'])

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=6), nullable=False, server_default=''))
    op.execute("UPDATE inbox SET sender = (SELECT min(m.sender) FROM messages m WHERE m.id = inbox.message_id "
               "AND m.direction = 'in') WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = inbox.message_id "
               "AND m.direction = 'in')")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.alter_column('sender', existing_type=sa.String(length=6), existing_nullable=False,
                              server_default=None)
    _primary_key('inbox', ['message_id', 'sender'])

    _primary_key('obligations', ['message_id', 'sender'])

    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=6), nullable=False, server_default=''))
    op.execute("UPDATE reminders SET sender = (SELECT o.sender FROM obligations o "
               "WHERE o.message_id = reminders.message_id) WHERE EXISTS (SELECT 1 FROM obligations o "
               "WHERE o.message_id = reminders.message_id)")
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.alter_column('sender', existing_type=sa.String(length=6), existing_nullable=False,
                              server_default=None)
    _primary_key('reminders', ['message_id', 'sender', 'kind'])

    _primary_key('monitor_obligations', ['message_id', 'sender'])


def downgrade() -> None:
    """Back to ids alone: fails if two senders' messages now share an id (they could not be told apart)."""
    _primary_key('monitor_obligations', ['message_id'])
    _primary_key('reminders', ['message_id', 'kind'])
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_column('sender')
    _primary_key('obligations', ['message_id'])
    _primary_key('inbox', ['message_id'])
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('sender')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_messages_id_direction_sender'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_messages_id_direction'), ['id', 'direction'])
