"""keys: revocations of counties' public keys are remembered (county_public_keys.revoked_at)

A revocation read from the keys topic is honoured at once; kept here, it also holds from the next start on,
before the keys topic has been read again.

Revision ID: 0013_key_revocations
Revises: 0012_identity_per_sender
Create Date: 2026-12-04 19:20:00
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = '0013_key_revocations'
down_revision = '0012_identity_per_sender'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('county_public_keys') as batch:
        batch.add_column(sa.Column('revoked_at', UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('county_public_keys') as batch:
        batch.drop_column('revoked_at')
