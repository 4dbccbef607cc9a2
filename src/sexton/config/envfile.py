"""``KEY=VALUE`` files as deployments write them (``DEPLOY_ENV``, a sourced secrets file)."""

from __future__ import annotations

import shlex
from pathlib import Path


class EnvFileError(ValueError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    """Parse shell-style assignments: comments, blank lines, ``export``, quotes.

    Values are not expanded or executed: an env file is data, never a script.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read env file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"cannot read env file {path}: not UTF-8 text") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise EnvFileError(f"{path}:{number}: {key}: {exc}") from None
        values[key] = " ".join(words)
    return values
