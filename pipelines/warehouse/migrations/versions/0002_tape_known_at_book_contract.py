"""repayment rows carry when they became known; the book's data contract

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('repayments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('known_at', sa.Date(), nullable=True))
    op.create_table('book_contract',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('column_name', sa.String(length=64), nullable=False),
    sa.Column('declared_by', sa.String(length=64), nullable=False),
    sa.Column('declared_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'column_name')
    )


def downgrade() -> None:
    op.drop_table('book_contract')
    with op.batch_alter_table('repayments', schema=None) as batch_op:
        batch_op.drop_column('known_at')
