"""Find known secret values in everything a run wrote: files, HTTP bodies, CLI output.

Each secret is looked for as written and in the encodings it could take on the
way (JSON-escaped, URL-encoded, base64 of the bare value and of `Bearer <v>`),
so a secret that leaked inside a JSON string or a header dump is found too.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


def forms(value: str) -> set[bytes]:
    """The byte strings that would give `value` away."""
    out = {
        value.encode(),
        json.dumps(value)[1:-1].encode(),
        urllib.parse.quote(value, safe="").encode(),
        urllib.parse.quote_plus(value).encode(),
    }
    for raw in (value, f"Bearer {value}"):
        out.add(base64.b64encode(raw.encode()).rstrip(b"="))
    return {f for f in out if f}


@dataclass(frozen=True)
class Finding:
    secret: str  # the secret's name, never its value
    where: str


def grep(secrets: dict[str, str], outputs: dict[str, bytes]) -> list[Finding]:
    """Every (secret name, output name) where a form of the secret occurs."""
    found = []
    for name, value in secrets.items():
        patterns = forms(value)
        for where, data in outputs.items():
            if any(p in data for p in patterns):
                found.append(Finding(name, where))
    return found


def files_under(root: Path) -> dict[str, bytes]:
    """Every regular file under root (database, its WAL, logs, exports), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
