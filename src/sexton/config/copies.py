"""Checks of the copies policy that need the whole config: groups that exist, and rules
that the configured stores and sites can meet."""

from __future__ import annotations

from .errors import Problem, did_you_mean
from .models import CopiesSettings, Settings
from .source import Document, Path_


def copies_problems(settings: Settings, doc: Document) -> list[Problem]:
    """A store's ``group`` must be under ``groups:``; no ``copies`` rule may ask for more
    copies than the enabled stores and the other sites could hold, or more sites than exist."""
    problems = []
    for name, store in settings.stores.items():
        if store.group is not None and store.group not in settings.groups:
            hint = did_you_mean(store.group, settings.groups) or (
                "" if settings.groups else " (there is no `groups:` section)"
            )
            message = f"no group named {store.group!r}{hint}"
            problems.append(doc.problem(("stores", name, "group"), message))
    rules: list[tuple[Path_, CopiesSettings]] = []
    if "copies" in settings.model_fields_set:  # the default asks nothing of a store-less config
        rules.append((("copies",), settings.copies))
    rules += [(("groups", g, "copies"), s.copies) for g, s in settings.groups.items()]
    holders = sum(1 for s in settings.stores.values() if s.enabled) + len(settings.sites)
    for where, rule in rules:
        if rule.min > holders:
            problems.append(
                doc.problem(
                    (*where, "min"),
                    f"{rule.min} copies cannot be held: there are only {holders} enabled "
                    "stores and other sites to hold them",
                )
            )
        if rule.sites > 1 + len(settings.sites):
            problems.append(
                doc.problem(
                    (*where, "sites"),
                    f"{rule.sites} sites cannot be reached: this one and "
                    f"{len(settings.sites)} under `sites:`",
                )
            )
    return problems
