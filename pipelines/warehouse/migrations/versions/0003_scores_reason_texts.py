"""scores keep the notice texts of their adverse-action reason codes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('reason_text_1', 'reason_text_2', 'reason_text_3')


def upgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
