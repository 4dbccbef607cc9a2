"""file_copies: the verified copies and sites of each hashed file, for the copies policy

`catalog stats`, `/metrics` and `replicate` judged every hashed file against the copies rule
(20.6 s at 1M copies on PostgreSQL). With the counts kept per file and indexed, they judge
only the files below the largest rule: an index range, a handful of files in a catalog that
meets its policy.

A file's count is recounted (not adjusted) whenever a write can change it: a copy added,
removed, or changing state, verified checksum or file; a remote copy; the file's checksum.
A verification that confirms the checksum again changes none of these and fires nothing.
Unhashed files have no row: there is nothing to verify their copies against yet.

PostgreSQL: statement-level triggers for inserts and deletes (a scan's batches), row-level
ones for updates, whose WHEN lets the many updates that change no count (fixity's
``verified_at``, a sweep's token) skip the trigger altogether. The recount locks the rows
first and counts in the next statement, so it sees the copies of a concurrent writer of
the same file that committed meanwhile. SQLite (writers take turns) recounts in row triggers.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# (file id, verified copies, sites) of the hashed files chosen by {which}: local copies present
# with the file's checksum verified, and remote copies confirmed with it; this site counts as
# one site when it holds a verified copy. As `catalog.replication` judges them.
_COUNTED = """
SELECT id, local + remote AS copies,
       CASE WHEN local > 0 THEN 1 ELSE 0 END + remote_sites AS sites
FROM (
    SELECT f.id,
        (SELECT count(*) FROM instances i WHERE i.file_id = f.id AND i.state = 'present'
            AND i.verified_checksum = f.checksum) AS local,
        (SELECT count(*) FROM remote_instances r WHERE r.file_id = f.id
            AND r.checksum = f.checksum) AS remote,
        (SELECT count(DISTINCT r.site) FROM remote_instances r WHERE r.file_id = f.id
            AND r.checksum = f.checksum) AS remote_sites
    FROM files f WHERE f.checksum IS NOT NULL AND {which}
) AS tally
"""

# The copies that can count, whatever the file's checksum: adding or removing any other
# (a scan without checksums, a remote copy not yet confirmed) changes no count, and costs
# no recount. A file hashed has its row from its own triggers.
_MAY_COUNT = {
    "instances": "{row}.state = 'present' AND {row}.verified_checksum IS NOT NULL",
    "remote_instances": "{row}.checksum IS NOT NULL",
}

_PG_FUNCTIONS = f"""
CREATE FUNCTION file_copies_recount(ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- Locks the rows there were (a DO UPDATE whose WHERE fails still locks), and adds those
    -- there were not: a concurrent writer of the same files waits here, not after counting.
    INSERT INTO file_copies (file_id, copies, sites)
    SELECT id, 0, 0 FROM files WHERE id IN (SELECT unnest(ids)) AND checksum IS NOT NULL
    ORDER BY id
    ON CONFLICT (file_id) DO UPDATE SET copies = excluded.copies WHERE false;
    UPDATE file_copies SET copies = counted.copies, sites = counted.sites
    FROM ({_COUNTED.format(which="f.id IN (SELECT unnest(ids))")}) AS counted
    WHERE file_copies.file_id = counted.id
      AND (file_copies.copies, file_copies.sites) IS DISTINCT FROM (counted.copies, counted.sites);
    DELETE FROM file_copies WHERE file_id IN (SELECT unnest(ids))
      AND NOT EXISTS (SELECT 1 FROM files WHERE id = file_id AND checksum IS NOT NULL);
END $$;

CREATE FUNCTION file_copies_after_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'files' THEN  -- a new file, no copy yet (or counted by their trigger)
        INSERT INTO file_copies (file_id, copies, sites)
        SELECT id, 0, 0 FROM changed WHERE checksum IS NOT NULL ON CONFLICT DO NOTHING;
    ELSIF TG_TABLE_NAME = 'instances' THEN
        PERFORM file_copies_recount(ARRAY(SELECT DISTINCT file_id FROM changed
            WHERE {_MAY_COUNT["instances"].format(row="changed")}));
    ELSE
        PERFORM file_copies_recount(ARRAY(SELECT DISTINCT file_id FROM changed
            WHERE {_MAY_COUNT["remote_instances"].format(row="changed")}));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION file_copies_after_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'files' THEN
        PERFORM file_copies_recount(ARRAY[NEW.id]);
    ELSE
        PERFORM file_copies_recount(ARRAY[OLD.file_id, NEW.file_id]);
    END IF;
    RETURN NULL;
END $$;
"""
_PG_TRIGGERS = [
    "CREATE TRIGGER files_copies_insert AFTER INSERT ON files REFERENCING NEW TABLE AS changed"
    " FOR EACH STATEMENT EXECUTE FUNCTION file_copies_after_statement()",
    "CREATE TRIGGER files_copies_update AFTER UPDATE OF checksum ON files FOR EACH ROW"
    " WHEN (OLD.checksum IS DISTINCT FROM NEW.checksum)"
    " EXECUTE FUNCTION file_copies_after_row()",
    *(
        f"CREATE TRIGGER {table}_copies_{when} AFTER {when.upper()} ON {table}"
        f" REFERENCING {rows} TABLE AS changed"
        " FOR EACH STATEMENT EXECUTE FUNCTION file_copies_after_statement()"
        for table in ("instances", "remote_instances")
        for when, rows in (("insert", "NEW"), ("delete", "OLD"))
    ),
    "CREATE TRIGGER instances_copies_update AFTER UPDATE OF state, verified_checksum, file_id"
    " ON instances FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state"
    " OR OLD.verified_checksum IS DISTINCT FROM NEW.verified_checksum"
    " OR OLD.file_id IS DISTINCT FROM NEW.file_id)"
    " EXECUTE FUNCTION file_copies_after_row()",
    "CREATE TRIGGER remote_instances_copies_update AFTER UPDATE OF checksum, site, file_id"
    " ON remote_instances FOR EACH ROW WHEN (OLD.checksum IS DISTINCT FROM NEW.checksum"
    " OR OLD.site IS DISTINCT FROM NEW.site OR OLD.file_id IS DISTINCT FROM NEW.file_id)"
    " EXECUTE FUNCTION file_copies_after_row()",
]
_PG_TRIGGER_NAMES = {
    "files": ("insert", "update"),
    "instances": ("insert", "delete", "update"),
    "remote_instances": ("insert", "delete", "update"),
}


def _sqlite_recount(file_id: str) -> str:
    return f"""
    INSERT INTO file_copies (file_id, copies, sites)
    SELECT id, 0, 0 FROM files WHERE id = {file_id} AND checksum IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM file_copies WHERE file_id = {file_id});
    UPDATE file_copies SET (copies, sites) =
        (SELECT copies, sites FROM ({_COUNTED.format(which=f"f.id = {file_id}")}))
    WHERE file_id = {file_id};
    """


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER files_copies_insert AFTER INSERT ON files WHEN NEW.checksum IS NOT NULL"
    f" BEGIN {_sqlite_recount('NEW.id')} END",
    "CREATE TRIGGER files_copies_update AFTER UPDATE OF checksum ON files"
    " WHEN OLD.checksum IS NOT NEW.checksum BEGIN"
    " DELETE FROM file_copies WHERE file_id = OLD.id;"
    f" {_sqlite_recount('NEW.id')} END",
    *(
        f"CREATE TRIGGER {table}_copies_{when} AFTER {when.upper()} ON {table}"
        f" WHEN {_MAY_COUNT[table].format(row=row)}"
        f" BEGIN {_sqlite_recount(f'{row}.file_id')} END"
        for table in ("instances", "remote_instances")
        for when, row in (("insert", "NEW"), ("delete", "OLD"))
    ),
    *(
        f"CREATE TRIGGER {table}_copies_update AFTER UPDATE OF {', '.join(columns)} ON {table}"
        f" WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in columns)} BEGIN"
        f" {_sqlite_recount('OLD.file_id')} {_sqlite_recount('NEW.file_id')} END"
        for table, columns in (
            ("instances", ("state", "verified_checksum", "file_id")),
            ("remote_instances", ("checksum", "site", "file_id")),
        )
    ),
]


def upgrade() -> None:
    op.create_table(
        "file_copies",
        sa.Column(
            "file_id",
            sa.Integer,
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("copies", sa.Integer, nullable=False),
        sa.Column("sites", sa.Integer, nullable=False),
    )
    # The triggers first: on PostgreSQL, creating them locks the tables against writers until
    # this transaction commits, so nothing is written between the count and the triggers.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTIONS)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute("INSERT INTO file_copies (file_id, copies, sites) " + _COUNTED.format(which="TRUE"))
    # After the backfill: built once rather than entry by entry.
    op.create_index("ix_file_copies_copies", "file_copies", ["copies"])
    op.create_index("ix_file_copies_sites", "file_copies", ["sites"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, operations in _PG_TRIGGER_NAMES.items():
        for when in operations:
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER {table}_copies_{when}{on}")
    if postgres:
        op.execute("DROP FUNCTION file_copies_after_statement()")
        op.execute("DROP FUNCTION file_copies_after_row()")
        op.execute("DROP FUNCTION file_copies_recount(integer[])")
    op.drop_table("file_copies")
