"""Signing keys of the node's counties and the public keys of every county

Revision ID: 0005_signing
Revises: 0004_security
"""
import sqlalchemy as sa
from alembic import op

from exchange.adapters.sql.tables import UtcDateTime

revision = "0005_signing"
down_revision = "0004_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("county", sa.String(6), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("not_before", UtcDateTime(), nullable=False),
        sa.Column("not_after", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("county", "key_id", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "county_public_keys",
        sa.Column("county", sa.String(6), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("not_before", UtcDateTime(), nullable=False),
        sa.Column("not_after", UtcDateTime(), nullable=True),
        sa.Column("learned_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("county", "key_id", name=op.f("pk_county_public_keys")),
    )


def downgrade() -> None:
    op.drop_table("county_public_keys")
    op.drop_table("signing_keys")
