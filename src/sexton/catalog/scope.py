"""Which of a store's files a scan looks after: prefixes, then include and exclude globs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sexton.stores import safe_name


@dataclass(frozen=True)
class Scope:
    """Globs match the whole name relative to the store root, and ``*`` crosses ``/``, so
    ``*.warc.gz`` matches at any depth. Matching is case-sensitive on every platform.

    ``direct``: only the files directly in the prefix directories, not in their
    subdirectories (``""`` is the root then): a fanned-out scan's shard of the files beside
    the directories it split off (see ``tasks.scan``).
    """

    prefixes: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    direct: bool = False

    @classmethod
    def of(
        cls, prefixes: Sequence[str] = (), include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> Scope:
        """A scope with each prefix checked like a file name (no ``..``, not absolute)."""
        return cls(
            tuple(safe_name(p.rstrip("/")) for p in prefixes), tuple(include), tuple(exclude)
        )

    @property
    def has_globs(self) -> bool:
        return bool(self.include or self.exclude)

    @property
    def holds_everything(self) -> bool:
        return not (self.prefixes or self.has_globs or self.direct)

    def holds(self, name: str) -> bool:
        """Whether a file of this name is in scope."""
        if not any(self._in(p, name) for p in self.prefixes or ("",)):
            return False
        if self.include and not any(fnmatchcase(name, g) for g in self.include):
            return False
        return not any(fnmatchcase(name, g) for g in self.exclude)

    def _in(self, prefix: str, name: str) -> bool:
        """Whether ``name`` is under directory ``prefix`` (directly in it, if ``direct``):
        ``a/bc`` is not under ``a/b``."""
        if prefix and not name.startswith(prefix + "/"):
            return False
        return not (self.direct and "/" in name[len(prefix) + 1 if prefix else 0 :])
