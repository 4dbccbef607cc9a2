"""What sites say to each other over HTTP, as pydantic models shared by the client
(``sites``) and the API routes, so both ends agree on every field.

Names are checked (``safe_name``) where they arrive; a bad body is a 422 that changes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CHECKSUM_HEADER = "X-Sexton-Checksum"  # the checksum the uploaded bytes must have (algo:hex)
MAX_BATCH = 10_000  # files per request: well under any database's parameter limit

Answer = Literal["accepted", "held", "refused"]
# What the destination reports of a file it was sent.
RemoteState = Literal["initiated", "staged", "completed", "failed", "cancelled", "unknown"]


class Message(BaseModel):
    """Unknown keys are errors, as in the config: a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OfferedFile(Message):
    id: int = Field(ge=1)  # the source's outgoing transfer id
    name: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0)
    checksum: str = Field(min_length=1, max_length=200)


class StageRequest(Message):
    """The source asks the destination to take a batch."""

    source: str = Field(min_length=1, max_length=200)  # the source's site name
    batch: str = Field(min_length=1, max_length=200)
    files: list[OfferedFile] = Field(max_length=MAX_BATCH)


class StageAnswer(Message):
    id: int  # the source's transfer id
    answer: Answer
    incoming_id: int | None = None  # accepted: where to upload
    staging_path: str | None = None  # accepted: where the bytes go in the staging store
    store: str | None = None  # held: the store holding it
    checksum: str | None = None  # held: the verified checksum there
    reason: str | None = None  # refused: why


class StageReply(Message):
    files: list[StageAnswer]


class UploadReply(Message):
    state: RemoteState
    checksum: str | None = None


class Ids(Message):
    """The source names its own transfer ids (status, cancel) or the incoming ids (placed)."""

    source: str = Field(min_length=1, max_length=200)
    ids: list[int] = Field(max_length=MAX_BATCH)
    reason: str | None = Field(None, max_length=2000)


class RemoteTransfer(Message):
    id: int  # the source's transfer id
    state: RemoteState
    store: str | None = None
    checksum: str | None = None  # completed: as verified at the destination
    error: str | None = None


class StatusReply(Message):
    files: list[RemoteTransfer]


class Confirmation(Message):
    """The destination tells the source how a file ended: ``completed`` with the checksum it
    verified on ``store``, or ``failed``. ``id`` is the source's transfer id when known
    (network transfers); SneakerNet arrivals have none and are matched by name."""

    name: str = Field(min_length=1, max_length=4096)
    state: Literal["completed", "failed"] = "completed"
    store: str | None = Field(None, max_length=200)
    checksum: str | None = Field(None, max_length=200)
    id: int | None = None
    error: str | None = Field(None, max_length=2000)


class ConfirmRequest(Message):
    site: str = Field(min_length=1, max_length=200)  # the destination, as the source names it
    files: list[Confirmation] = Field(max_length=MAX_BATCH)


class ConfirmResult(Message):
    name: str
    result: Literal["confirmed", "failed", "mismatch", "unknown"]


class ConfirmReply(Message):
    files: list[ConfirmResult]


class ReconfirmRequest(Message):
    source: str = Field(min_length=1, max_length=200)
    names: list[str] = Field(max_length=MAX_BATCH)


class Reconfirmed(Message):
    name: str
    store: str | None = None
    checksum: str | None = None  # None: no present copy that still hashes to the recorded one


class ReconfirmReply(Message):
    files: list[Reconfirmed]
