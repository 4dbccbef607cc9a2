"""fixity_checks: one row per check of a copy, so its history outlives the latest check

`instances.verified_at` keeps only a copy's latest successful check, and `corrupt_files`
only a count of damage sightings: neither says how often a copy was checked, by which run,
nor what each check found. PREMIS exports and `catalog show` now read this log; a fanned-out
run can be shown to have checked each copy once.

The log starts with each damaged copy's last sighting. A copy's latest success is not
copied in: `verified_at` does not say whether a check or the scan, clone or arrival that
hashed the copy set it, and the PREMIS export already reports it while no check follows.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sexton.db.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fixity_checks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "instance_id",
            sa.Integer,
            sa.ForeignKey("instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("run_id", sa.Integer),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("checksum", sa.String(200)),
        sa.Column("detail", sa.Text),
    )
    op.execute(
        "INSERT INTO fixity_checks (instance_id, at, outcome, checksum, detail)"
        " SELECT instance_id, last_seen, 'mismatch', actual, 'expected ' || expected"
        " FROM corrupt_files WHERE instance_id IS NOT NULL ORDER BY last_seen, id"
    )
    # After the backfill: built once rather than entry by entry.
    op.create_index("ix_fixity_checks_instance_id", "fixity_checks", ["instance_id", "at"])
    op.create_index("ix_fixity_checks_at", "fixity_checks", ["at", "id"])


def downgrade() -> None:
    op.drop_table("fixity_checks")
