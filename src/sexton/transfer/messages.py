"""What sites say to each other over HTTP, as pydantic models shared by the client
(``sites``) and the API routes, so both ends agree on every field.

Names are checked (``safe_name``) where they arrive; a bad body is a 422 that changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CHECKSUM_HEADER = "X-Sexton-Checksum"  # the checksum the uploaded bytes must have (algo:hex)
MAX_BATCH = 10_000  # files per request: well under any database's parameter limit
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
MAX_SIZE = 2**53  # the largest integer every JSON client reads exactly

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Names, sites, stores, checksums: no control characters (PostgreSQL refuses NUL outright).
WORD_PATTERN = r"^[^\x00-\x1f]+$"
Word = Annotated[str, Field(min_length=1, max_length=200, pattern=WORD_PATTERN)]
MAX_NAME = 4096  # characters of a file name
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=WORD_PATTERN)]
Prose = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]  # errors, reasons

Answer = Literal["accepted", "held", "refused"]
# What the destination reports of a file it was sent.
RemoteState = Literal["initiated", "staged", "completed", "failed", "cancelled", "unknown"]


class Message(BaseModel):
    """Unknown keys are errors, as in the config: a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OfferedFile(Message):
    id: Id  # the source's outgoing transfer id
    name: Name
    size: int = Field(ge=0, le=MAX_SIZE)
    checksum: Word


class StageRequest(Message):
    """The source asks the destination to take a batch."""

    source: Word  # the source's site name
    batch: Word
    files: list[OfferedFile] = Field(max_length=MAX_BATCH)


class StageAnswer(Message):
    id: int  # the source's transfer id
    answer: Answer
    incoming_id: int | None = None  # accepted: where to upload
    staging_path: str | None = None  # accepted: where the bytes go in the staging store
    store: str | None = None  # held: the store holding it
    checksum: str | None = None  # held: the verified checksum there
    reason: str | None = None  # refused: why
    # Refused for a reason that may pass (no room, a disabled store): offered again later.
    retry: bool = False


class StageReply(Message):
    files: list[StageAnswer]


class UploadReply(Message):
    state: RemoteState
    checksum: str | None = None


class Ids(Message):
    """The source names its own transfer ids (status, cancel) or the incoming ids (placed)."""

    source: Word
    ids: list[Id] = Field(max_length=MAX_BATCH)
    reason: Prose | None = None


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

    name: Name
    state: Literal["completed", "failed"] = "completed"
    store: Word | None = None
    checksum: Word | None = None
    id: Id | None = None
    error: Prose | None = None


class ConfirmRequest(Message):
    site: Word  # the destination, as the source names it
    files: list[Confirmation] = Field(max_length=MAX_BATCH)


class ConfirmResult(Message):
    name: str
    # incomplete: "completed" without the store and checksum, which confirms nothing
    result: Literal["confirmed", "failed", "mismatch", "unknown", "incomplete"]


class ConfirmReply(Message):
    files: list[ConfirmResult]


class ReconfirmRequest(Message):
    source: Word
    names: list[Name] = Field(max_length=MAX_BATCH)


class Reconfirmed(Message):
    name: str
    store: str | None = None
    checksum: str | None = None  # None: no present copy that still hashes to the recorded one


class ReconfirmReply(Message):
    files: list[Reconfirmed]
