"""A check: what preflight looked at, whether it passed, what it found, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Section = Literal["suite", "findings", "jailbreak", "config", "review"]


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    section: Section = "suite"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "section": self.section,
            "found": self.found,
            "fix": "" if self.ok else self.fix,
            "details": self.details,
        }
