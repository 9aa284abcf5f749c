"""gateway calls keep their conversation, so feedback finds any logged call

`POST /v1/feedback` only found calls still in the gateway's memory (the last 10,000,
lost on restart); each call's messages and answer now live in `gatewaycall`, keyed
by the id the client got, beside its `requestlog` row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gatewaycall",
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_log_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("messages_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("answer_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("example_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["request_log_id"], ["requestlog.id"]),
        sa.PrimaryKeyConstraint("call_id"),
    )
    with op.batch_alter_table("gatewaycall") as batch:
        batch.create_index(batch.f("ix_gatewaycall_created_at"), ["created_at"], unique=False)
        batch.create_index(batch.f("ix_gatewaycall_request_log_id"), ["request_log_id"], unique=False)


def downgrade() -> None:
    op.drop_table("gatewaycall")
