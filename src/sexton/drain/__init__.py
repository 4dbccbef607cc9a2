"""Draining a crawler's output disk into the archive: packing, manifests, the step machine,
the durable record and the status report (the ``drain`` task type uses them)."""
