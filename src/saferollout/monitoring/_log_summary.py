"""Top flagged patterns per version: flags, violation categories, repeated prompts.

Prompt clusters are built in two passes, both cheap enough for the few
thousand flagged records a summary reads:

1. normalization: NFKC, lower case, URLs, e-mails and numbers replaced by
   placeholders, punctuation dropped, whitespace collapsed; prompts equal
   after this are one pattern ("how do I make a b0mb?" and "How do I make a
   B0MB" are one);
2. near duplicates: prompts whose word 3-shingle sets have a Jaccard
   similarity of at least `SIMILARITY` join the first cluster they match
   (looked up through an inverted index on shingles, so each prompt is
   compared with only the clusters it shares a shingle with). This catches
   templated attacks that vary a few words.

No embeddings or MinHash: the volumes are small and an exact Jaccard on a
capped sample is simpler to trust and to explain.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..store import FLAG_COLUMNS, Store, schema
from ._logs import PROBLEM_FLAGS, LogFilter, iter_interactions, prompt_of

SIMILARITY = 0.5
MAX_FLAGGED = 5000  # flagged records read per summary
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PUNCT = re.compile(r"[^\w\s<>]+")
_SPACE = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = _URL.sub(" <url> ", t)
    t = _EMAIL.sub(" <email> ", t)
    t = _NUMBER.sub("0", t)
    t = _PUNCT.sub(" ", t)
    return _SPACE.sub(" ", t).strip()


def shingles(normalized: str, k: int = 3) -> frozenset[str]:
    words = normalized.split()
    if len(words) <= k:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + k]) for i in range(len(words) - k + 1))


@dataclass
class PromptCluster:
    example: str  # the first prompt seen (as presented: masked per redact)
    key: str
    shingles: frozenset[str]
    count: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)

    def to_dict(self, top: int = 3) -> dict[str, Any]:
        return {
            "count": self.count,
            "example": self.example,
            "versions": dict(self.versions.most_common()),
            "flags": [f for f, _ in self.flags.most_common(top)],
            "categories": [c for c, _ in self.categories.most_common(top)],
            "request_ids": self.request_ids[:5],
        }


def cluster_prompts(rows: Iterable[Mapping[str, Any]]) -> list[PromptCluster]:
    """Group rows (each with `prompt`, `version`, `flags`, `categories`,
    `request_id`) into prompt clusters, largest first."""
    exact: dict[str, PromptCluster] = {}
    clusters: list[PromptCluster] = []
    index: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        prompt = row.get("prompt") or ""
        key = normalize_prompt(prompt)
        if not key:
            continue
        cluster = exact.get(key)
        if cluster is None:
            sh = shingles(key)
            best, best_sim = None, SIMILARITY
            seen: set[int] = set()
            for s in sh:
                for i in index.get(s, ()):
                    if i in seen:
                        continue
                    seen.add(i)
                    other = clusters[i].shingles
                    sim = len(sh & other) / len(sh | other)
                    if sim >= best_sim:
                        best, best_sim = clusters[i], sim
            if best is None:
                best = PromptCluster(example=prompt[:300], key=key, shingles=sh)
                for s in sh:
                    index[s].append(len(clusters))
                clusters.append(best)
            cluster = exact[key] = best
        cluster.count += 1
        cluster.versions[row["version"]] += 1
        cluster.flags.update(row.get("flags") or ())
        cluster.categories.update(row.get("categories") or ())
        if len(cluster.request_ids) < 5:
            cluster.request_ids.append(row["request_id"])
    return sorted(clusters, key=lambda c: (-c.count, c.key))


def version_counts(store: Store, flt: LogFilter) -> dict[str, dict[str, int]]:
    """Per version: requests, scored, errors and each flag's count (SQL, no rows read)."""
    c = schema.interactions.c

    def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    # Only the filter's SQL-exact parts: flags, categories and scores select the
    # flagged rows below, not the denominators.
    base = LogFilter(
        versions=flt.versions,
        since=flt.since,
        until=flt.until,
        session=flt.session,
        shadow=flt.shadow,
    )
    query = (
        sa.select(
            c.version,
            sa.func.count(),
            count_if(c.scored_at.is_not(None)),
            count_if(c.error_kind.is_not(None)),
            *(count_if(c[f].is_(True)) for f in FLAG_COLUMNS),
        )
        .where(*base.where())
        .group_by(c.version)
        .order_by(c.version)
    )
    out: dict[str, dict[str, int]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            d = {"requests": int(row[1]), "scored": int(row[2] or 0), "errors": int(row[3] or 0)}
            d.update({f: int(n or 0) for f, n in zip(FLAG_COLUMNS, row[4:], strict=True)})
            out[str(row[0])] = d
    return out


def summarize(
    store: Store,
    flt: LogFilter,
    *,
    present: Any = None,
    top: int = 5,
    max_flagged: int = MAX_FLAGGED,
) -> dict[str, Any]:
    """Per version: counts, feedback, the top flags and categories among flagged
    records, and the top prompt clusters. `present` maps a row to its view
    (masking the prompt examples); default: the raw prompt."""
    if not flt.flags:
        flt = LogFilter(**{**_fields(flt), "flags": PROBLEM_FLAGS})
    counts = version_counts(store, flt)
    feedback = store.feedback_counts(since=flt.since)
    flagged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    read = 0
    for row in iter_interactions(store, flt, limit=max_flagged):
        read += 1
        view = (
            present(row)
            if present is not None
            else {**row, "prompt": prompt_of(row.get("request_messages"))}
        )
        flagged[row["version"]].append(view)
    versions: dict[str, Any] = {}
    for version in sorted(set(counts) | set(flagged)):
        rows = flagged.get(version, [])
        flags = Counter(f for r in rows for f in r["flags"] if f in flt.flags)
        cats = Counter(c for r in rows for c in r["categories"])
        n_fb, neg_fb = feedback.get(version, (0, 0))
        versions[version] = {
            "counts": counts.get(version, {}),
            "flagged": len(rows),
            "feedback": {"given": n_fb, "negative": neg_fb},
            "top_flags": flags.most_common(top),
            "top_categories": cats.most_common(top),
            "prompt_clusters": [c.to_dict() for c in cluster_prompts(rows)[:top]],
        }
    return {"versions": versions, "flagged_read": read, "truncated": read >= max_flagged}


def _fields(flt: LogFilter) -> dict[str, Any]:
    return {name: getattr(flt, name) for name in flt.__dataclass_fields__}
