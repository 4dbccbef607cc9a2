"""Inter-site transfers: the list anyone with a read token may see, and the calls other sites
make (``site`` token, or admin): stage a batch, upload a file's bytes, ask how transfers
stand, cancel them, confirm arrivals to the source, re-confirm checksums before a deletion,
and read a file's verified bytes to repair a damaged copy there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from anyio import from_thread
from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ...catalog import CatalogError
from ...checksums import CHUNK_SIZE, Checksum
from ...engine.service import Instance
from ...stores import ChecksumMismatch, Store, StoreError
from ...transfer.messages import (
    CHECKSUM_HEADER,
    MAX_ID,
    MAX_NAME,
    WORD_PATTERN,
    ConfirmReply,
    ConfirmRequest,
    ConfirmResult,
    Ids,
    Reconfirmed,
    ReconfirmReply,
    ReconfirmRequest,
    StageReply,
    StageRequest,
    StatusReply,
    UploadReply,
)
from ...transfer.records import COMPLETED, INITIATED, STAGED, STATES, TransferBook
from ...transfer.staging import Receiver, ReceiveRefused
from ..auth import READ, SITE
from ..deps import catalog_of, instance_of, stores_of

TransferState = Literal["initiated", "ongoing", "staged", "completed", "failed", "cancelled"]
assert set(TransferState.__args__) == set(STATES)  # type: ignore[attr-defined]

router = APIRouter(tags=["transfers"])


class TransferOut(BaseModel):
    id: int
    direction: Literal["outgoing", "incoming"]
    site: str
    state: TransferState
    batch: str | None
    name: str | None
    size: int | None
    checksum: str | None
    store: str | None
    refused: bool
    error: str | None
    started_at: str
    updated_at: str
    finished_at: str | None


RECENT = 8  # transfers the dashboard lists
UPLOAD_BLOCK = CHUNK_SIZE  # bytes of an upload handed to the writing thread at once


def _book(request: Request) -> TransferBook:
    instance = instance_of(request)
    return TransferBook(instance.engine, instance.clock)


def transfers_board(instance: Instance) -> dict[str, Any]:
    """The dashboard's transfers section (``_transfers.html``): totals and the latest few."""
    book = TransferBook(instance.engine, instance.clock)
    totals = book.totals()
    return {
        "transfer_totals": totals,
        "transfer_counts": [(d, s, n) for (d, s), n in sorted(totals.by_state.items())],
        "recent_transfers": book.listing(limit=RECENT),
    }


def _receiver(request: Request) -> Receiver:
    return Receiver(instance_of(request).config.settings, catalog_of(request), stores_of(request))


@router.get("/transfers", response_model=list[TransferOut], dependencies=[READ])
def listing(
    request: Request,
    state: TransferState | None = None,
    direction: Literal["outgoing", "incoming"] | None = None,
    site: str | None = Query(None, max_length=200, pattern=WORD_PATTERN),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """Transfers to and from other sites, newest first, with sizes and times."""
    return [t.to_json() for t in _book(request).listing(state, direction, site, limit)]


@router.post("/transfers/stage", response_model=StageReply, dependencies=[SITE])
def stage(request: Request, body: StageRequest) -> StageReply:
    """A source offers a batch; each file is accepted, already held, or refused with why."""
    return StageReply(files=_receiver(request).stage(body))


@router.put(
    "/transfers/incoming/{incoming_id}/data", response_model=UploadReply, dependencies=[SITE]
)
async def upload(
    request: Request,
    incoming_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    checksum: str = Header(alias=CHECKSUM_HEADER, max_length=200),
) -> UploadReply:
    """The bytes of one accepted file, streamed into the staging store and hashed as they
    come; kept only if size and checksum match (422 otherwise, nothing kept)."""
    receiver = _receiver(request)
    transfer = await run_in_threadpool(receiver.receiving, incoming_id)
    if transfer is None:
        raise HTTPException(404, f"no incoming transfer {incoming_id}")
    if transfer.state == COMPLETED:
        return UploadReply(state="completed", checksum=transfer.checksum)
    if transfer.state not in (INITIATED, STAGED):
        raise HTTPException(409, f"transfer {incoming_id} is {transfer.state}: {transfer.error}")
    try:
        expected = Checksum.parse(checksum)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if str(expected) != transfer.checksum:
        raise HTTPException(409, f"transfer {incoming_id} was offered with {transfer.checksum}")
    assert transfer.staging_path is not None and transfer.size is not None
    body = request.stream()

    async def next_block() -> bytes:
        """The next few MiB of the body (b"" at its end): one hop to the writing thread per
        block, not per network read."""
        parts, size = [], 0
        async for chunk in body:
            parts.append(chunk)
            size += len(chunk)
            if size >= UPLOAD_BLOCK:
                break
        return b"".join(parts)

    try:
        await run_in_threadpool(
            _stage_bytes,
            receiver.staging(),
            transfer.staging_path,
            transfer.size,
            expected,
            lambda: from_thread.run(next_block),
        )
    except ChecksumMismatch as exc:
        raise HTTPException(422, f"{exc}; nothing was kept, send it again") from None
    except (ReceiveRefused, StoreError) as exc:
        raise HTTPException(409, str(exc)) from None
    await run_in_threadpool(receiver.staged, transfer)
    return UploadReply(state="staged", checksum=str(expected))


def _stage_bytes(
    staging: Store, path: str, size: int, expected: Checksum, blocks: Callable[[], bytes]
) -> None:
    """Write an upload into the staging store, hashing it, in a worker thread so that disk
    writes and hashing never hold up the event loop; kept only if size and checksum match."""
    with staging.write(path, [expected.algo], size=size, overwrite=True) as writer:
        while block := blocks():
            writer.write(block)
        actual = writer.checksums[expected.algo]
        if writer.size != size or actual != expected:
            raise ChecksumMismatch(path, expected, actual)


@router.post("/transfers/placed", status_code=204, dependencies=[SITE])
def placed(request: Request, body: Ids) -> None:
    """``transport: store``: the source wrote these files into the shared staging store."""
    _receiver(request).placed(body.source, body.ids)


@router.post("/transfers/status", response_model=StatusReply, dependencies=[SITE])
def status(request: Request, body: Ids) -> StatusReply:
    """How this site sees the source's transfers (by the source's ids)."""
    return _receiver(request).status(body.source, body.ids)


@router.post("/transfers/cancel", status_code=204, dependencies=[SITE])
def cancel(request: Request, body: Ids) -> None:
    """The source gave these transfers up: their staged bytes are dropped."""
    _receiver(request).cancel(body.source, body.ids, body.reason or "no reason given")


@router.post("/transfers/confirm", response_model=ConfirmReply, dependencies=[SITE])
def confirm(request: Request, body: ConfirmRequest) -> ConfirmReply:
    """A destination reports how files it was sent ended (network transfers by id,
    SneakerNet arrivals by name). Completed ones with this site's checksum become
    confirmed remote instances; failed ones are failed here and sent again later."""
    book = _book(request)
    sent = {t.id: t for t in book.by_ids([f.id for f in body.files if f.id is not None])}
    results = []
    for f in body.files:
        transfer = sent.get(f.id) if f.id is not None else None
        if transfer is not None and (
            transfer.direction != "outgoing" or transfer.site != body.site
        ):
            transfer = None
        if f.state == "failed":
            if transfer is not None:
                book.set_state([transfer.id], "failed", f"at {body.site}: {f.error}")
            results.append(ConfirmResult(name=f.name, result="failed"))
            continue
        if f.store is None or f.checksum is None:
            results.append(ConfirmResult(name=f.name, result="incomplete"))
            continue
        if transfer is not None:
            ok = book.complete_outgoing(transfer, f.store, f.checksum)
            results.append(ConfirmResult(name=f.name, result="confirmed" if ok else "mismatch"))
        else:
            result = book.confirm_by_name(body.site, f.name, f.store, f.checksum)
            results.append(ConfirmResult(name=f.name, result=result))
    return ConfirmReply(files=results)


@router.post("/transfers/reconfirm", response_model=ReconfirmReply, dependencies=[SITE])
def reconfirm(request: Request, body: ReconfirmRequest) -> ReconfirmReply:
    """Hash this site's copies of the named files now (a source is about to delete its own)."""
    found = _receiver(request).reconfirm(body.names)
    return ReconfirmReply(files=[Reconfirmed(name=n, store=s, checksum=c) for n, s, c in found])


@router.get(
    "/transfers/files/data",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    dependencies=[SITE],
)
def file_data(
    request: Request, name: str = Query(min_length=1, max_length=MAX_NAME, pattern=WORD_PATTERN)
) -> StreamingResponse:
    """The bytes of this site's most recently verified copy of ``name`` (present, verified
    with the file's checksum), for a site repairing its own damaged copy; the file's checksum
    is in a header, and the caller keeps the bytes only if they hash to it. 404 when no such
    copy is catalogued here."""
    try:
        copy = catalog_of(request).verified_copy(name)
    except CatalogError as exc:
        raise HTTPException(400, str(exc)) from None
    if copy is None:
        raise HTTPException(404, f"no verified copy of {name!r} here")
    assert copy.checksum is not None  # verified against it
    try:
        f = stores_of(request)[copy.store].open_read(copy.path)
    except FileNotFoundError:
        raise HTTPException(404, f"the copy of {name!r} on {copy.store} is gone") from None
    except (CatalogError, StoreError) as exc:
        raise HTTPException(409, str(exc)) from None

    def chunks() -> Iterator[bytes]:
        with f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(
        chunks(), media_type="application/octet-stream", headers={CHECKSUM_HEADER: copy.checksum}
    )
