"""Suites and red-team findings: JSONL files read into typed items, with line-numbered errors.

Suite line: `{"id", "prompt" or "messages", "expect": "refuse" | "comply",
"category"}` (BBQ items also carry `bbq`). Findings line: `{"id", "prompt" or
"messages", "category", "status": "open" | "fixed", "found"}`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import orjson

from ._errors import SuiteError

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_SUITES = ("harmful.jsonl", "xstest.jsonl", "bbq.jsonl")

Messages = list[dict[str, Any]]
Expect = Literal["refuse", "comply"]
Status = Literal["open", "fixed"]


@dataclass(frozen=True, slots=True)
class BBQInfo:
    """What scoring a BBQ multiple-choice answer needs."""

    condition: Literal["ambig", "disambig"]
    answers: tuple[str, ...]
    label: int  # the correct answer
    unknown: int  # the "can't be determined" answer
    biased: int  # the answer a stereotype would give


@dataclass(frozen=True, slots=True)
class SuiteItem:
    id: str
    messages: Messages
    expect: Expect
    category: str
    suite: str = ""  # file name it came from
    bbq: BBQInfo | None = None
    strategy: str | None = None  # set on jailbreak variants

    @property
    def prompt(self) -> str:
        """The last user message, for reports."""
        for m in reversed(self.messages):
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                return str(m["content"])
        return ""


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    messages: Messages
    category: str
    status: Status
    found: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                return str(m["content"])
        return ""


def default_suite_paths() -> list[Path]:
    """The suites shipped with saferollout (built by scripts/build_suites.py)."""
    return [DATA_DIR / name for name in DEFAULT_SUITES]


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(str(path), f"cannot read: {exc.strerror}") from None
    out = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SuiteError(str(path), f"not valid JSON ({exc})", line=number) from None
        if not isinstance(obj, dict):
            raise SuiteError(str(path), "each line must be a JSON object", line=number)
        out.append((number, obj))
    return out


def _messages(path: Path, number: int, obj: dict[str, Any]) -> Messages:
    if "messages" in obj:
        msgs = obj["messages"]
        ok = (
            isinstance(msgs, list)
            and msgs
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in msgs)
        )
        if not ok:
            raise SuiteError(
                str(path), "`messages` must be a non-empty list of {role, content}", line=number
            )
        return [dict(m) for m in msgs]
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise SuiteError(
            str(path), 'needs "prompt" (a non-empty string) or "messages"', line=number
        )
    return [{"role": "user", "content": prompt}]


def _text(path: Path, number: int, obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise SuiteError(str(path), f'"{key}" must be a non-empty string', line=number)
    return value


def _new_id(path: Path, number: int, obj: dict[str, Any], seen: set[str], what: str) -> str:
    """The line's "id", which must not repeat within the file."""
    value = _text(path, number, obj, "id")
    if value in seen:
        raise SuiteError(str(path), f"{what} {value!r} appears twice", line=number)
    seen.add(value)
    return value


def _choice(
    path: Path, number: int, obj: dict[str, Any], key: str, allowed: tuple[str, str]
) -> str:
    value = obj.get(key)
    if value not in allowed:
        raise SuiteError(
            str(path), f'"{key}" must be "{allowed[0]}" or "{allowed[1]}"', line=number
        )
    return str(value)


def _bbq(path: Path, number: int, raw: Any) -> BBQInfo:
    try:
        answers = tuple(str(a) for a in raw["answers"])
        info = BBQInfo(
            condition=raw["condition"],
            answers=answers,
            label=int(raw["label"]),
            unknown=int(raw["unknown"]),
            biased=int(raw["biased"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SuiteError(
            str(path),
            f'"bbq" needs answers, label, unknown, biased, condition ({exc})',
            line=number,
        ) from None
    indexes = (info.label, info.unknown, info.biased)
    if info.condition not in ("ambig", "disambig") or not all(
        0 <= i < len(answers) for i in indexes
    ):
        raise SuiteError(str(path), '"bbq" has a bad condition or answer index', line=number)
    return info


def load_suite(path: str | Path) -> list[SuiteItem]:
    """Read one suite file; ids must be unique within it."""
    p = Path(path)
    items: list[SuiteItem] = []
    seen: set[str] = set()
    for number, obj in _lines(p):
        item_id = _new_id(p, number, obj, seen, "id")
        expect = cast(Expect, _choice(p, number, obj, "expect", ("refuse", "comply")))
        items.append(
            SuiteItem(
                id=item_id,
                messages=_messages(p, number, obj),
                expect=expect,
                category=_text(p, number, obj, "category"),
                suite=p.name,
                bbq=_bbq(p, number, obj["bbq"]) if obj.get("bbq") is not None else None,
            )
        )
    if not items:
        raise SuiteError(str(p), "the suite has no items")
    return items


def load_suites(paths: Sequence[str | Path], *, limit: int | None = None) -> list[SuiteItem]:
    """Read several suites (the first `limit` items of each); ids must be unique across them."""
    items: list[SuiteItem] = []
    where: dict[str, str] = {}
    for path in paths:
        suite = load_suite(path)
        if limit is not None:
            suite = suite[:limit]
        for item in suite:
            if item.id in where:
                raise SuiteError(str(path), f"id {item.id!r} is also in {where[item.id]}")
            where[item.id] = str(path)
        items += suite
    return items


def load_findings(path: str | Path) -> list[Finding]:
    p = Path(path)
    findings: list[Finding] = []
    seen: set[str] = set()
    for number, obj in _lines(p):
        fid = _new_id(p, number, obj, seen, "finding id")
        status = cast(Status, _choice(p, number, obj, "status", ("open", "fixed")))
        known = {"id", "prompt", "messages", "category", "status", "found"}
        findings.append(
            Finding(
                id=fid,
                messages=_messages(p, number, obj),
                category=_text(p, number, obj, "category"),
                status=status,
                found=str(obj.get("found", "")),
                extra={k: v for k, v in obj.items() if k not in known},
            )
        )
    return findings
