"""`sexton events export --format premis` at both ends of a transfer between two real sites
(source on SQLite, destination on PostgreSQL): the source's copies sent, the destination's
copies arrived, each valid PREMIS 3."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from lxml import etree
from transfer_sites import SEXTON, Site, prepare

SUBSET_XSD = Path(__file__).parent.parent / "data" / "premis-v3-subset.xsd"
P = "{http://www.loc.gov/premis/v3}"


def premis_events(site: Site) -> Counter[tuple[str | None, str | None]]:
    """(eventType, outcome) counted over the site's export, once it is valid."""
    result = subprocess.run(
        [*SEXTON, "events", "export", "-c", str(site.config)],
        capture_output=True,
        timeout=120,
        env=site.environ(),
    )
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(result.stdout)
    schema = etree.XMLSchema(etree.parse(str(SUBSET_XSD)))
    assert schema.validate(root), schema.error_log
    return Counter(
        (e.findtext(f"{P}eventType"), e.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome"))
        for e in root.iter(f"{P}event")
    )


def test_a_transfer_is_a_transfer_event_at_the_source_and_an_ingestion_at_the_destination(
    two_sites: tuple[Site, Site],
) -> None:
    source, destination = two_sites
    written = prepare(source, destination, 10)
    source.trigger("sender")
    source.trigger("consumer")
    destination.trigger("receiver")

    sent = premis_events(source)
    assert sent[("transfer", "success")] == len(written)
    assert sent[("fixity check", "success")] == len(written)  # hashed by the source's scan
    arrived = premis_events(destination)
    assert arrived[("ingestion", "success")] == len(written)
    assert ("transfer", "success") not in arrived
