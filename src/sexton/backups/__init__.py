"""Database and directory backups: sources, verification, retention, drills and their record."""

from __future__ import annotations

from .records import BackupBook, BackupRecord, Drill, UnknownBackup

__all__ = ["BackupBook", "BackupRecord", "Drill", "UnknownBackup"]
