"""The configured stores as a mapping, each connected only when first used.

Connecting is not free (an SFTP store opens an SSH session), and one unreachable store must
not stop a task that only uses another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from sexton.config.errors import did_you_mean
from sexton.stores import Store, StoreSettings, open_store

from .errors import UnknownStore


class OpenStores(Mapping[str, Store]):
    def __init__(self, settings: Mapping[str, StoreSettings]) -> None:
        self.settings = settings
        self._opened: dict[str, Store] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Store:
        if name not in self.settings:
            raise UnknownStore(f"no store named {name!r}{did_you_mean(name, self.settings)}")
        with self._lock:
            if name not in self._opened:
                self._opened[name] = open_store(name, self.settings[name])
            return self._opened[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)
