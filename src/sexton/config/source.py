"""Reading config files: YAML or JSON into plain values, remembering the line of every key.

Values are expanded (``${VAR}``, ``${VAR:-default}``) here, so every later step sees final text
and every problem can still point at the line it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import ConfigError, Problem

Path_ = tuple[str | int, ...]
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Document:
    """One file's content as plain values, with the line of each key path."""

    file: str
    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.file, self.line(path), format_path(path), message)


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_document(path: Path) -> Document:
    """Load ``path``; a syntax error becomes a ``ConfigError`` naming its line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(name, None, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise ConfigError([Problem(name, line, "", "not UTF-8 text")]) from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)  # YAML would forgive a trailing comma; a JSON file must be JSON
        except json.JSONDecodeError as exc:
            raise ConfigError([Problem(name, exc.lineno, "", f"invalid JSON: {exc.msg}")]) from None
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = mark.line + 1 if mark else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise ConfigError([Problem(name, where, "", message)]) from None
    except YAMLError as exc:
        raise ConfigError([Problem(name, None, "", f"invalid YAML: {exc}")]) from None
    document = Document(name, None)
    document.value = _plain(tree, (), document.lines)
    return document


def text_line(data: bytes, offset: int) -> int:
    """The line number of byte ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    """ruamel's round-trip nodes to dicts, lists and scalars, recording key lines."""
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            key_text = str(key)
            # A key merged in from an anchor (`<<: *defaults`) has no position of its own
            # here: messages about it point at the mapping that merges it.
            own = node.lc.data.get(key)
            lines[(*path, key_text)] = (own[0] if own else node.lc.line) + 1
            result[key_text] = _plain(value, (*path, key_text), lines)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            lines[(*path, index)] = node.lc.item(index)[0] + 1
            items.append(_plain(value, (*path, index), lines))
        return items
    if hasattr(node, "value") and type(node).__module__.startswith("ruamel"):
        return node.value  # scalar wrappers such as ScalarFloat keep their plain value
    return node


def expand_text(text: str, env: Mapping[str, str]) -> str:
    """``${VAR}`` / ``${VAR:-default}`` in one string (an ``env_file`` name, read before the
    rest is expanded); a variable that is unset and has no default is left as written."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return env.get(name) or (default if default is not None else match.group(0))

    return _VARIABLE.sub(substitute, text)


def expand_variables(document: Document, env: Mapping[str, str]) -> list[Problem]:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value, in place."""
    problems: list[Problem] = []

    def expand(value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            return {key: expand(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [expand(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if env.get(name):
                return env[name]
            if default is not None:
                return default
            if name in env:
                return ""
            problems.append(document.problem(path, f"environment variable {name} is not set"))
            return ""

        return _VARIABLE.sub(substitute, value)

    document.value = expand(document.value, ())
    return problems
