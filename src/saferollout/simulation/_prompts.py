"""The labelled prompt mix: what the simulated servers know and the traffic replays.

The mix is built by scripts/build_prompt_mix.py and shipped in data/prompts.jsonl
(sources and licences in data/SOURCES.md). A simulated backend decides whether a
request is harmful by exact lookup of the last user message in the mix, and
falls back to a small keyword heuristic for prompts it has never seen, so that
hand-written prompts in tests and demos still behave plausibly.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

Label = Literal["harmful", "benign"]

# Phrases that mark a request as harmful when it is not in the mix. Deliberately
# small and conservative: "kill a Python process" must stay benign.
_HARMFUL_PATTERNS = re.compile(
    r"\b("
    r"(make|build|assemble)\s+(a\s+)?(bomb|pipe bomb|explosive|nerve agent|bioweapon)"
    r"|synthesi[sz]e\s+\w*\s*(meth|methamphetamine|fentanyl|sarin|ricin|nerve agent)"
    r"|hack\s+into|steal\s+(someone|credit card|passwords?|identit)"
    r"|ransomware|keylogger|malware\s+that"
    r"|launder(ing)?\s+money|counterfeit\s+(money|bills|currency)"
    r"|(kill|murder|poison|hurt|stab)\s+(a\s+person|someone|my\s+\w+|him|her|people)"
    r"|untraceable\s+(gun|weapon|poison)"
    r"|self[- ]harm|child\s+sexual"
    r")",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PromptEntry:
    """One prompt of the mix with its ground-truth label."""

    id: str
    prompt: str
    label: Label
    category: str
    source: str


class PromptMix:
    """The prompts, split by label, with an exact-match index."""

    def __init__(self, entries: list[PromptEntry]) -> None:
        self.entries: tuple[PromptEntry, ...] = tuple(entries)
        self.harmful: tuple[PromptEntry, ...] = tuple(e for e in entries if e.label == "harmful")
        self.benign: tuple[PromptEntry, ...] = tuple(e for e in entries if e.label == "benign")
        self._by_text = {_norm(e.prompt): e for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, text: str) -> PromptEntry | None:
        """The entry whose prompt is exactly `text` (surrounding whitespace ignored)."""
        return self._by_text.get(_norm(text))

    def classify(self, text: str) -> tuple[Label, PromptEntry | None]:
        """Label of `text`: from the mix when known, else from the keyword heuristic."""
        entry = self.lookup(text)
        if entry is not None:
            return entry.label, entry
        return heuristic_label(text), None


def _norm(text: str) -> str:
    return text.strip()


@functools.lru_cache(maxsize=4096)
def heuristic_label(text: str) -> Label:
    """A keyword guess for prompts outside the mix (cached: clients repeat prompts)."""
    return "harmful" if _HARMFUL_PATTERNS.search(text) else "benign"


def default_prompt_path() -> Path:
    return Path(__file__).with_name("data") / "prompts.jsonl"


def read_prompt_file(path: str | Path) -> list[PromptEntry]:
    entries = []
    with Path(path).open("rb") as fh:
        for line in fh:
            if line.strip():
                d = orjson.loads(line)
                entries.append(
                    PromptEntry(
                        id=d["id"],
                        prompt=d["prompt"],
                        label=d["label"],
                        category=d.get("category", ""),
                        source=d.get("source", ""),
                    )
                )
    return entries


@functools.lru_cache(maxsize=4)
def load_prompt_mix(path: str | Path | None = None) -> PromptMix:
    """The shipped prompt mix (or one read from `path`); cached, it is immutable."""
    return PromptMix(read_prompt_file(path if path is not None else default_prompt_path()))
