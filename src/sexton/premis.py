"""The catalog's preservation history as PREMIS 3 XML (http://www.loc.gov/premis/v3).

One ``premis`` document: an ``object`` per file the events are about (identified by its name,
the identity it has at every site, with its size and checksum), then an ``event`` per thing
done to a copy, then Sexton itself as the ``agent`` that did them. Written as a stream with
the standard library's SAX writer, so an export of a large catalog holds one event at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.metadata import version
from typing import BinaryIO, Final
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesNSImpl

from .catalog.events import (
    DELETION,
    FIXITY,
    INGESTION,
    REPLICATION,
    TRANSFER,
    EventFile,
    PreservationEvent,
)
from .catalog.records import iso
from .checksums import Checksum

NS: Final = "http://www.loc.gov/premis/v3"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"

# Sexton's kinds of event as terms of the Library of Congress eventType vocabulary. A kind
# not listed here (a repair, once it is logged) is exported under its own name.
EVENT_TYPES: Final = {
    FIXITY: "fixity check",
    REPLICATION: "replication",
    INGESTION: "ingestion",
    TRANSFER: "transfer",
    DELETION: "deletion",
}
# The cryptographicHashFunctions vocabulary's spellings; others are exported as Sexton's.
DIGEST_NAMES: Final = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}

FILE_ID_TYPE: Final = "sexton file name"
EVENT_ID_TYPE: Final = "sexton event"
AGENT_ID_TYPE: Final = "software"
AGENT: Final = "sexton"

Node = tuple[str, "str | Sequence[Node]"]  # an element: its local name, its text or children


def write_premis(
    out: BinaryIO, files: Iterable[EventFile], events: Iterable[PreservationEvent]
) -> int:
    """Write the document to ``out``; returns the number of events written."""
    xml = XMLGenerator(out, "utf-8", short_empty_elements=True)
    xml.startDocument()
    xml.startPrefixMapping("premis", NS)
    xml.startPrefixMapping("xsi", XSI)
    _start(xml, "premis", {(None, "version"): "3.0"})
    for file in files:
        _start(xml, "object", {(XSI, "type"): "premis:file"})
        for node in _object(file):
            _write(xml, node)
        xml.endElementNS((NS, "object"), None)
    count = 0
    for event in events:
        _write(xml, ("event", _event(event)))
        count += 1
    _write(xml, ("agent", _agent()))
    xml.endElementNS((NS, "premis"), None)
    xml.endPrefixMapping("xsi")
    xml.endPrefixMapping("premis")
    xml.endDocument()
    out.write(b"\n")
    return count


def _start(xml: XMLGenerator, name: str, attributes: dict[tuple[str | None, str], str]) -> None:
    qnames = {key: (f"xsi:{key[1]}" if key[0] == XSI else key[1]) for key in attributes}
    xml.startElementNS((NS, name), None, AttributesNSImpl(attributes, qnames))


def _write(xml: XMLGenerator, node: Node) -> None:
    name, content = node
    _start(xml, name, {})
    if isinstance(content, str):
        xml.characters(content)
    else:
        for child in content:
            _write(xml, child)
    xml.endElementNS((NS, name), None)


def _object(file: EventFile) -> list[Node]:
    characteristics: list[Node] = [("compositionLevel", "0")]
    checksum = _parsed(file.checksum)
    if checksum is not None:
        characteristics.append(
            (
                "fixity",
                [
                    ("messageDigestAlgorithm", DIGEST_NAMES.get(checksum.algo, checksum.algo)),
                    ("messageDigest", checksum.hexdigest),
                ],
            )
        )
    characteristics += [
        ("size", str(file.size)),
        ("format", [("formatDesignation", [("formatName", "unknown")])]),
    ]
    return [
        (
            "objectIdentifier",
            [("objectIdentifierType", FILE_ID_TYPE), ("objectIdentifierValue", file.name)],
        ),
        ("objectCharacteristics", characteristics),
    ]


def _parsed(recorded: str | None) -> Checksum | None:
    """The file's checksum; None if it has none, or one in no known algorithm (left out)."""
    try:
        return Checksum.parse(recorded) if recorded else None
    except ValueError:
        return None


def _event(event: PreservationEvent) -> list[Node]:
    where = f"store {event.store}" + (f", path {event.path}" if event.path else "")
    outcome: list[Node] = [("eventOutcome", event.outcome)]
    if event.detail:
        outcome.append(("eventOutcomeDetail", [("eventOutcomeDetailNote", event.detail)]))
    return [
        (
            "eventIdentifier",
            [("eventIdentifierType", EVENT_ID_TYPE), ("eventIdentifierValue", event.identifier)],
        ),
        ("eventType", EVENT_TYPES.get(event.kind, event.kind)),
        ("eventDateTime", iso(event.at) or ""),
        ("eventDetailInformation", [("eventDetail", where)]),
        ("eventOutcomeInformation", outcome),
        (
            "linkingAgentIdentifier",
            [
                ("linkingAgentIdentifierType", AGENT_ID_TYPE),
                ("linkingAgentIdentifierValue", AGENT),
                ("linkingAgentRole", "executing program"),
            ],
        ),
        (
            "linkingObjectIdentifier",
            [
                ("linkingObjectIdentifierType", FILE_ID_TYPE),
                ("linkingObjectIdentifierValue", event.name),
            ],
        ),
    ]


def _agent() -> list[Node]:
    return [
        (
            "agentIdentifier",
            [("agentIdentifierType", AGENT_ID_TYPE), ("agentIdentifierValue", AGENT)],
        ),
        ("agentName", "Sexton"),
        ("agentType", "software"),
        ("agentVersion", version("sexton")),
    ]
