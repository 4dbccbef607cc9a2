"""The destination's side: accepting a batch, holding its bytes in the staging store until
they are verified, ingesting them into the store, and answering the source's questions.

Bytes are hashed as they arrive and again as they move from staging into the store (a
temporary name, renamed only once the checksum matched), so damage in the staging area is
caught before anything is registered (DESIGN §5, invariant 2). When staging and store are
local directories on one filesystem the bytes are moved by renaming and only read again to
hash them; otherwise they are copied (``Store.write_from``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import select

from ..catalog import (
    DISALLOWED,
    PRESENT,
    Arrival,
    ArrivalConflict,
    Catalog,
    CatalogError,
    UnknownStore,
)
from ..checksums import Checksum, hash_stream
from ..config.models import Settings
from ..db import reading
from ..db.catalog_tables import files, instances
from ..sizes import format_size
from ..stores import (
    AlreadyExists,
    ChecksumMismatch,
    Store,
    StoreError,
    StoreFull,
    StoreReadOnly,
    safe_name,
)
from ..stores.local import LocalStore, fsync_directory
from ..stores.paths import TEMP_PREFIX
from .messages import (
    Confirmation,
    RemoteTransfer,
    StageAnswer,
    StageRequest,
    StatusReply,
)
from .records import FAILED, IN_FLIGHT, INITIATED, STAGED, Accepted, Transfer, TransferBook


class ReceiveRefused(Exception):
    """This site cannot receive as configured (no staging store, unknown store)."""


@dataclass(frozen=True, slots=True)
class Ingested:
    """What became of one staged file: the confirmation owed to its source."""

    transfer: Transfer
    confirmation: Confirmation

    @property
    def ok(self) -> bool:
        return self.confirmation.state == "completed"


def staging_path(source: str, batch: str, name: str) -> str:
    """Where a file's bytes wait: per source and batch, so batches never collide."""
    return safe_name(f"{source}/{batch}/{name}")


def _move_verified(
    staging: Store, store: Store, staged: str, name: str, expected: Checksum
) -> bool:
    """Move a staged file into ``store`` as ``name`` by renaming, when both are local
    directories on one filesystem; False (nothing done) when they are not.

    The same steps as a store write, without writing the bytes again: the file is renamed to
    a temporary name in the store (no one else knows it from then on), hashed there and
    synced, and renamed to ``name`` only if it matches ``expected``; otherwise it is removed
    and ``ChecksumMismatch`` raised. Killed in between, the staged bytes are gone and the
    next run fails the transfer as missing, so the source sends it again.
    """
    if not (isinstance(staging, LocalStore) and isinstance(store, LocalStore)):
        return False
    if store.read_only:
        raise StoreReadOnly(f"store {store.name} is read-only: refusing to write")
    source, final = staging.path(staged), store.path(name)
    try:
        staged_stat, root_stat = os.stat(source), os.stat(store.root)
    except FileNotFoundError:
        return False  # the copy path reports what is missing
    if staged_stat.st_dev != root_stat.st_dev:
        return False
    if not store.has_room_for(staged_stat.st_size):  # a configured capacity counts moves too
        raise StoreFull(f"store {store.name}: no room for {name!r}")
    if os.path.lexists(final):
        raise AlreadyExists(f"store {store.name}: {name!r} already exists")
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    temp = os.path.join(parent, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    os.rename(source, temp)
    try:
        with open(temp, "rb") as f:
            _size, found = hash_stream(f, [expected.algo])
            if found[expected.algo] != expected:
                raise ChecksumMismatch(name, expected, found[expected.algo])
            os.fsync(f.fileno())  # cheap when the upload synced it already
        if os.path.lexists(final):
            raise AlreadyExists(f"store {store.name}: {name!r} appeared while moving")
        os.rename(temp, final)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(parent)
    return True


class Receiver:
    """Receiving for one site: its config, catalog, stores and transfer rows."""

    def __init__(self, settings: Settings, catalog: Catalog, stores: Mapping[str, Store]) -> None:
        self.settings = settings
        self.catalog = catalog
        self.stores = stores
        self.book = TransferBook(catalog.engine, catalog.clock)

    # -- where -----------------------------------------------------------------------------

    def staging(self) -> Store:
        name = self.settings.transfer.staging
        if name is None:
            raise ReceiveRefused(
                "this site does not receive: set transfer.staging to a store in its config"
            )
        return self._store(name, "transfer.staging")

    def store(self) -> Store:
        name = self.settings.transfer.store
        if name is None:
            staging = self.settings.transfer.staging
            others = [s for s in self.settings.stores if s != staging]
            if not others:
                raise ReceiveRefused("this site has no store to receive into: set transfer.store")
            name = others[0]
        return self._store(name, "transfer.store")

    def _store(self, name: str, key: str) -> Store:
        try:
            return self.stores[name]
        except (UnknownStore, StoreError) as exc:
            raise ReceiveRefused(f"{key}: {exc}") from None

    # -- the calls the source makes ----------------------------------------------------------

    def stage(self, request: StageRequest) -> list[StageAnswer]:
        """Answer each offered file: held already, accepted (with where its bytes go), or
        refused with the reason, marked ``retry`` when it may pass (no room, a disabled
        store, receiving not set up) so the source offers the file again later. Room is
        promised file by file against the store's space, counting what earlier batches were
        promised and not yet ingested."""
        try:
            self.staging()  # receiving needs somewhere to stage
            store = self.store()
        except ReceiveRefused as exc:
            return [
                StageAnswer(id=f.id, answer="refused", reason=str(exc), retry=True)
                for f in request.files
            ]
        enabled = self.catalog.store_overrides().get(store.name, store.enabled)
        used = self.catalog.store_used(store.name) + self.book.incoming_bytes_in_flight(store.name)
        answers: list[StageAnswer] = []
        accepted: list[Accepted] = []
        for offered in request.files:
            refusal, passing = None, False  # passing: room or an enabled store may come
            try:
                path = staging_path(request.source, request.batch, offered.name)
                Checksum.parse(offered.checksum)
                standing = self.catalog.standing(
                    offered.name, offered.size, offered.checksum, store.name
                )
            except (StoreError, CatalogError, ValueError) as exc:
                refusal, standing = str(exc), "conflict"
            if refusal is None and standing == "held":
                answers.append(
                    StageAnswer(
                        id=offered.id, answer="held", store=store.name, checksum=offered.checksum
                    )
                )
                continue
            if refusal is None and standing == "conflict":
                refusal = f"{offered.name!r} is held here with another size or checksum"
            if refusal is None and not enabled:
                refusal, passing = f"store {store.name} is disabled here", True
            if refusal is None and not store.has_room_for(offered.size, used):
                passing = True
                usable = store.usable_space(used)
                room = "unknown" if usable is None else format_size(usable)
                refusal = (
                    f"no room on store {store.name} for {offered.name!r} "
                    f"({format_size(offered.size)}; {room} usable)"
                )
            if refusal is not None:
                answers.append(
                    StageAnswer(id=offered.id, answer="refused", reason=refusal, retry=passing)
                )
                continue
            accepted.append(
                Accepted(offered.id, offered.name, offered.size, offered.checksum, store.name, path)
            )
            used += offered.size
        incoming = self.book.start_incoming(request.source, request.batch, accepted)
        answers += [
            StageAnswer(
                id=f.remote_id, answer="accepted", incoming_id=id_, staging_path=f.staging_path
            )
            for f, id_ in zip(accepted, incoming, strict=True)
        ]
        return answers

    def receiving(self, incoming_id: int) -> Transfer | None:
        """The incoming transfer an upload is for, or None if there is no such one."""
        found = self.book.by_ids([incoming_id])
        return found[0] if found and found[0].direction == "incoming" else None

    def staged(self, transfer: Transfer) -> None:
        """The bytes are in staging (verified on arrival, or placed there by the source)."""
        self.book.set_state([transfer.id], STAGED, only_from=(INITIATED, STAGED))

    def placed(self, source: str, incoming_ids: Sequence[int]) -> None:
        for transfer in self.book.by_ids(incoming_ids):
            if transfer.site == source and transfer.direction == "incoming":
                self.staged(transfer)

    def status(self, source: str, ids: Sequence[int]) -> StatusReply:
        found = self.book.incoming_for(source, ids)
        answers = []
        for id_ in ids:
            t = found.get(id_)
            if t is None:
                answers.append(RemoteTransfer(id=id_, state="unknown"))
                continue
            answers.append(
                RemoteTransfer(
                    id=id_,
                    state=t.state,
                    store=t.store,
                    checksum=t.checksum if t.state == "completed" else None,
                    error=t.error,
                )
            )
        return StatusReply(files=answers)

    def cancel(self, source: str, ids: Sequence[int], reason: str) -> None:
        """The source gave these up: drop their staged bytes and close them here."""
        found = [t for t in self.book.incoming_for(source, ids).values() if t.state in IN_FLIGHT]
        self.book.set_state([t.id for t in found], FAILED, f"cancelled by the source: {reason}")
        for t in found:
            self._drop_staged(t)

    def reconfirm(self, names: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
        """Hash present copies of ``names`` now; (name, store, checksum) for each, checksum
        None when no copy here still matches the file's checksum (a mismatch is recorded as
        damage, as any fixity check would)."""
        answers: list[tuple[str, str | None, str | None]] = []
        for name in names:
            with reading(self.catalog.engine) as connection:
                ids = list(
                    connection.execute(
                        select(instances.c.id)
                        .join(files, files.c.id == instances.c.file_id)
                        .where(files.c.name == name, instances.c.state == PRESENT)
                        .order_by(instances.c.id)
                    ).scalars()
                )
            answer: tuple[str, str | None, str | None] = (name, None, None)
            for copy in self.catalog.copies(ids):
                if copy.checksum is None or copy.store not in self.stores:
                    continue
                algo = Checksum.parse(copy.checksum).algo
                try:
                    with self.stores[copy.store].open_read(copy.path) as f:
                        _size, found = hash_stream(f, [algo])
                except (OSError, StoreError):
                    continue
                (finding,) = self.catalog.record_checks([(copy, found[algo])], None)
                if finding.ok:
                    answer = (name, copy.store, copy.checksum)
                    break
            answers.append(answer)
        return answers

    # -- ingest (receive_clone) ------------------------------------------------------------------

    def ingest(self, transfer: Transfer, policy: str = DISALLOWED) -> Ingested:
        """Move one staged file into the store, verifying size and checksum on the way, and
        register it. A file that does not match is failed and its staged bytes removed; the
        source sends it again. Raises ``StoreFull`` (leaving the bytes staged) when the store
        has no room."""
        assert (
            transfer.name
            and transfer.checksum
            and transfer.staging_path
            and transfer.size is not None
        )
        staging, store = self.staging(), self.stores[transfer.store or self.store().name]
        expected = Checksum.parse(transfer.checksum)
        info = staging.info(transfer.staging_path)
        if info is None:
            return self._failed(transfer, "the staged bytes are missing")
        if info.size != transfer.size:
            return self._failed(transfer, f"staged size {info.size} is not {transfer.size}")
        try:
            if not _move_verified(staging, store, transfer.staging_path, transfer.name, expected):
                with staging.open_read(transfer.staging_path) as f:
                    store.write_from(
                        transfer.name, f, [expected.algo], expected, size=transfer.size
                    )
        except ChecksumMismatch as exc:
            return self._failed(transfer, f"staged bytes damaged: {exc}")
        except AlreadyExists:
            with store.open_read(transfer.name) as f:
                _size, found = hash_stream(f, [expected.algo])
            if found[expected.algo] != expected:  # not a copy an earlier run left: someone's
                return self._failed(
                    transfer, f"another file is already at {store.name}:{transfer.name}"
                )
        info = store.info(transfer.name)
        arrival = Arrival(
            name=transfer.name,
            size=transfer.size,
            checksum=transfer.checksum,
            store=store.name,
            path=transfer.name,
            source=f"transfer:{transfer.site}",
            deletion_policy=policy,
            mtime=info.mtime if info is not None else None,
        )
        try:
            file_id = self.catalog.ingest(arrival)
        except ArrivalConflict as exc:
            return self._failed(transfer, str(exc))
        self.book.ingested(transfer.id, file_id)
        self._drop_staged(transfer)
        return Ingested(
            transfer,
            Confirmation(
                name=transfer.name,
                state="completed",
                store=store.name,
                checksum=transfer.checksum,
                id=transfer.remote_id,
            ),
        )

    def _failed(self, transfer: Transfer, error: str) -> Ingested:
        self.book.set_state([transfer.id], FAILED, error)
        self._drop_staged(transfer)
        assert transfer.name is not None
        return Ingested(
            transfer,
            Confirmation(name=transfer.name, state="failed", id=transfer.remote_id, error=error),
        )

    def _drop_staged(self, transfer: Transfer) -> None:
        if transfer.staging_path is None:
            return
        # Leftover bytes in staging are harmless: never registered, overwritten on a resend.
        with suppress(ReceiveRefused, StoreError, OSError):
            self.staging().delete(transfer.staging_path, missing_ok=True)
