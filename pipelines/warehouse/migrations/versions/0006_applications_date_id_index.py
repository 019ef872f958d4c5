"""applications indexed by (business_date, application_id) instead of business_date alone

A scoring chunk reads one date's applications in an application-id range. With the date alone
indexed, every chunk walked all the date's rows (ten chunks of a 1M-row day read 10M rows);
the pair finds a chunk's rows directly and hands them over in id order, which is also the order
the day is planned in. It serves every query the date index served (the date leads it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_applications_business_date_id', 'applications',
                    ['business_date', 'application_id'], unique=False)
    op.drop_index('ix_applications_business_date', table_name='applications')


def downgrade() -> None:
    op.create_index('ix_applications_business_date', 'applications', ['business_date'],
                    unique=False)
    op.drop_index('ix_applications_business_date_id', table_name='applications')
