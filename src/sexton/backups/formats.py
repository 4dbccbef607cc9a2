"""The kinds of backup Sexton writes: each decides how a backup is checked and restored."""

from __future__ import annotations

SQLITE = "sqlite"  # a SQLite database file, made with the online backup API
PG_CUSTOM = "pg_custom"  # pg_dump --format=custom
MONGO_ARCHIVE = "mongo_archive"  # mongodump --archive --gzip
TAR_GZ = "tar_gz"  # a gzipped tar of a directory
OPAQUE = "opaque"  # a command's stdout: only size and checksum can be checked
