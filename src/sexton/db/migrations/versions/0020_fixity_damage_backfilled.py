"""fixity_checks: damaged WARC copies backfilled by 0019 as mismatches become `damaged`

0019 wrote each damaged copy's last sighting as a `mismatch`. A copy whose checksum matched
but whose WARC records are damaged keeps its problem in `corrupt_files.actual`, where a
mismatch keeps the checksum read: those rows claimed a checksum that was never found, and
their PREMIS events said "expected sha256:…, found record 3: …". They now say what a check
logs for such a copy: outcome `damaged`, the copy's (matching) checksum, the problem.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sexton.checksums import Checksum

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

EXPECTED = "expected "  # 0019's detail: "expected " and the file's checksum


def upgrade() -> None:
    connection = op.get_bind()
    backfilled = connection.execute(
        sa.text(
            "SELECT id, checksum, detail FROM fixity_checks"
            " WHERE run_id IS NULL AND outcome = 'mismatch' AND detail LIKE 'expected %'"
        )
    ).all()
    damaged = [
        {"id": row.id, "checksum": row.detail[len(EXPECTED) :], "problem": row.checksum}
        for row in backfilled
        if not _is_checksum(row.checksum)
    ]
    if damaged:
        connection.execute(
            sa.text(
                "UPDATE fixity_checks SET outcome = 'damaged', checksum = :checksum,"
                " detail = :problem WHERE id = :id"
            ),
            damaged,
        )


def _is_checksum(text: str | None) -> bool:
    try:
        Checksum.parse(text or "")
    except ValueError:
        return False
    return True


def downgrade() -> None:
    pass  # the labels 0019 gave were wrong; nothing to restore
