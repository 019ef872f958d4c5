"""the monthly collections queue: open delinquent loans by expected loss, with a stage

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'collections_queue',
        sa.Column('month_end', sa.Date(), nullable=False),
        sa.Column('loan_id', sa.String(length=64), nullable=False),
        sa.Column('queue_rank', sa.Integer(), nullable=False),
        sa.Column('dpd_bucket', sa.String(length=16), nullable=False),
        sa.Column('months_on_book', sa.Integer(), nullable=False),
        sa.Column('balance', sa.Float(), nullable=False),
        sa.Column('roll_probability', sa.Float(), nullable=False),
        sa.Column('expected_loss', sa.Float(), nullable=False),
        sa.Column('stage', sa.String(length=32), nullable=False),
        sa.Column('model_name', sa.String(length=128), nullable=False),
        sa.Column('model_version', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('month_end', 'loan_id'),
    )


def downgrade() -> None:
    op.drop_table('collections_queue')
