"""workflow runs record the process that executes them

A process killed mid-run (kill -9, power loss) left its run "running" forever; with the
pid recorded, a scheduler tick or `workflow stop` can see the process is gone and fail
the run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workflowrun", sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflowrun") as batch:
        batch.drop_column("pid")
