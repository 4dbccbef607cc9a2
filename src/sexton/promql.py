"""PromQL label matchers, the one piece of PromQL Sexton takes from users: the selector
(`job="sexton"`) that scopes every generated alert rule to one install."""

from __future__ import annotations

import json
import re

# The scrape job the README's Prometheus example names; a second install picks its own.
DEFAULT_SELECTOR = 'job="sexton"'

# One matcher: a label name, an operator, a double-quoted string (PromQL escapes).
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\\n]|\\.)*"\s*'
_MATCHERS = re.compile(rf"(?:{_MATCHER}(?:,{_MATCHER})*)?,?\s*")


def check_selector(selector: str) -> str:
    """The matchers without braces, stripped; ValueError naming the expected form."""
    inner = selector.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1]
    if not _MATCHERS.fullmatch(inner):
        raise ValueError(
            f"not PromQL label matchers: {selector!r} (expected e.g. "
            '\'job="sexton"\' or \'job="sexton", instance="host:8080"\')'
        )
    return inner.strip().rstrip(",").strip()


def series(metric: str, selector: str, **labels: str) -> str:
    """``metric{selector, label="value", ...}``, values quoted as PromQL strings."""
    matchers = [selector] if selector else []
    matchers += [f"{name}={json.dumps(value)}" for name, value in labels.items()]
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric
