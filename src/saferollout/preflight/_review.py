"""Human evaluation: a blinded side-by-side review set, its statistics and its gate.

Flow. Preflight collects the candidate's and stable's answers to suite prompts
and to real prompts sampled from stored interactions (`sample_real_prompts`),
then calls `build_review_set`, which samples pairs into the set
`review_set_id(config)` with the order of the two answers drawn per item.
Reviewers rate pairs on `saferollout review` (see `_review_app`); each rating
says which answer is safer and which is better (`a`, `b` or `equal`) and may
flag harm in either answer. `review_gate` reads the ratings back and judges them.

Blinding. An item keeps which version wrote `a` and which `b` (`versions`), so
statistics can be computed from the candidate's side, but the review page
shows only the prompt and the two texts; item ids are digests that say nothing
about the order.

Set growth. A set is topped up, never regrown: re-running preflight for the
same configuration (same set id) adds only what is missing to reach the
configured sample sizes, so earlier items and their ratings stay valid.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import orjson
import sqlalchemy as sa

from ..analysis import Proportion, wilson_interval
from ..config import ReviewConfig, RolloutConfig, version_hash
from ..store import Store, schema

Choice = Literal["a", "b", "equal"]
CHOICES: tuple[str, ...] = ("a", "b", "equal")
QUESTIONS: tuple[str, ...] = ("safer", "better")
MAX_COMMENT_CHARS = 2000
MAX_REVIEWER_CHARS = 128  # the store's reviewer column
_SET_ID_MAX = 64  # the store's set_id column
_REAL_POOL = 5000  # newest eligible interactions real prompts are drawn from


# -- the set ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewPair:
    """One prompt with the candidate's and stable's answers to it (unblinded)."""

    ref: str  # suite item id, or the request id of the real interaction
    messages: list[dict[str, str]]  # what was sent: [{"role", "content"}]
    candidate_text: str
    stable_text: str
    category: str | None = None


@dataclass(frozen=True, slots=True)
class RealPrompt:
    """A prompt a user really sent, to be answered by both versions."""

    ref: str  # request id of the interaction it came from
    messages: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class ReviewSet:
    set_id: str
    items: list[dict[str, Any]]
    added: int  # items new in this call (0: the set was already complete)


def review_set_id(config: RolloutConfig, candidate: str | None = None) -> str:
    """`{rollout}:{candidate}:{version_hash[:12]}`: the same configuration finds the
    same set (and its ratings); a changed candidate configuration starts a new one.
    Names too long for the store's 64-character column are shortened with a digest."""
    name = candidate or config.candidate
    vh = version_hash(config, name)[:12]
    set_id = f"{config.name}:{name}:{vh}"
    if len(set_id) <= _SET_ID_MAX:
        return set_id
    digest = hashlib.sha256(f"{config.name}\0{name}".encode()).hexdigest()[:10]
    room = _SET_ID_MAX - len(vh) - len(digest) - 3
    return f"{config.name[: room // 2]}:{name[: room - room // 2]}~{digest}:{vh}"


def item_id(set_id: str, source: str, ref: str) -> str:
    """Deterministic and blind: a digest of where the prompt came from, not of the order."""
    return "rv_" + hashlib.sha256(f"{set_id}\0{source}\0{ref}".encode()).hexdigest()[:32]


def _candidate_first(seed: int, iid: str) -> bool:
    # Per item, so the order of one item does not depend on which others were sampled.
    return hashlib.sha256(f"{seed}\0{iid}\0order".encode()).digest()[0] & 1 == 1


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """[{"role", "content": str}] from chat messages whose content may be a parts list."""
    out: list[dict[str, str]] = []
    for m in messages or []:
        if not isinstance(m, Mapping):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(
                str(p.get("text", "")) for p in content if isinstance(p, Mapping)
            ).strip()
        if content is None:
            continue
        out.append({"role": str(m.get("role", "user")), "content": str(content)})
    return out


def _stratified_order(pairs: Sequence[ReviewPair], rng: random.Random) -> list[ReviewPair]:
    """Round-robin over categories (each shuffled), so a small sample covers them all."""
    by_cat: dict[str, list[ReviewPair]] = defaultdict(list)
    for p in sorted(pairs, key=lambda p: p.ref):
        by_cat[p.category or ""].append(p)
    queues = []
    for cat in sorted(by_cat):
        group = by_cat[cat]
        rng.shuffle(group)
        queues.append(group)
    order: list[ReviewPair] = []
    while queues:
        for q in queues:
            order.append(q.pop())
        queues = [q for q in queues if q]
    return order


def _item(
    set_id: str, source: str, pair: ReviewPair, candidate: str, stable: str, seed: int
) -> dict[str, Any]:
    iid = item_id(set_id, source, pair.ref)
    cand_first = _candidate_first(seed, iid)
    texts = (pair.candidate_text, pair.stable_text)
    names = (candidate, stable)
    first, second = (0, 1) if cand_first else (1, 0)
    return {
        "item_id": iid,
        "set_id": set_id,
        "source": source,
        "ref": pair.ref,
        "category": pair.category,
        "messages": normalize_messages(pair.messages),
        "a": texts[first],
        "b": texts[second],
        # Hidden from reviewers; statistics read it.
        "versions": {"a": names[first], "b": names[second]},
        "candidate": candidate,
        "stable": stable,
    }


def build_review_set(
    store: Store,
    set_id: str,
    pairs: Iterable[ReviewPair],
    real_pairs: Iterable[ReviewPair],
    cfg: ReviewConfig,
    seed: int | None = None,
    *,
    candidate: str,
    stable: str,
) -> ReviewSet:
    """Sample suite `pairs` (up to cfg.suite_items, spread over categories) and
    `real_pairs` (up to cfg.real_prompts) into the blinded set `set_id`.

    Deterministic for a seed (default cfg.seed): the same inputs give the same
    items, ids and A/B order. Tops the set up to the configured sizes; pairs
    with an empty answer on either side (a failed call) are left out.
    """
    seed = cfg.seed if seed is None else seed
    existing = store.list_review_items(set_id)
    have = Counter(it.get("source") for it in existing)
    known = {it["item_id"] for it in existing}
    rng = random.Random(f"{seed}\0{set_id}")
    new: list[dict[str, Any]] = []
    for source, given, target, stratify in (
        ("suite", pairs, cfg.suite_items, True),
        ("real", real_pairs, cfg.real_prompts, False),
    ):
        usable = [p for p in given if p.candidate_text and p.stable_text]
        if stratify:
            ordered = _stratified_order(usable, rng)
        else:
            ordered = sorted(usable, key=lambda p: p.ref)
            rng.shuffle(ordered)
        room = target - have[source]
        for pair in ordered:
            if room <= 0:
                break
            item = _item(set_id, source, pair, candidate, stable, seed)
            if item["item_id"] in known:
                continue
            known.add(item["item_id"])
            new.append(item)
            room -= 1
    added = store.add_review_items(set_id, new)
    return ReviewSet(set_id, store.list_review_items(set_id), added)


def sample_real_prompts(
    store: Store, set_id: str, cfg: ReviewConfig, seed: int | None = None
) -> list[RealPrompt]:
    """Prompts users sent (newest eligible interactions), as many as the set still
    lacks; to be sent to both versions and handed back to `build_review_set`.

    Eligible: answered chat or completion calls a client saw (no mirrored calls,
    no failures) whose prompt was stored (`logging.redact: drop` stores none; with
    `pii`, reviewers see the masked prompt). Distinct prompts only."""
    seed = cfg.seed if seed is None else seed
    existing = store.list_review_items(set_id)
    need = cfg.real_prompts - sum(1 for it in existing if it.get("source") == "real")
    if need <= 0:
        return []
    seen_refs = {it.get("ref") for it in existing}
    seen_prompts = {orjson.dumps(it.get("messages")) for it in existing}
    c = schema.interactions.c
    query = (
        sa.select(c.request_id, c.request_json)
        .where(
            c.shadow.is_(False),
            c.error_kind.is_(None),
            c.status_code < 400,
            c.endpoint.in_(("chat.completions", "completions")),
            c.request_json.is_not(None),
        )
        .order_by(c.created_at.desc(), c.request_id)
        .limit(_REAL_POOL)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    candidates: list[RealPrompt] = []
    for request_id, request_json in sorted(rows, key=lambda r: r[0]):
        messages = normalize_messages(orjson.loads(request_json))
        key = orjson.dumps(messages)
        if not messages or request_id in seen_refs or key in seen_prompts:
            continue
        seen_prompts.add(key)
        candidates.append(RealPrompt(request_id, messages))
    rng = random.Random(f"{seed}\0{set_id}\0real")
    return rng.sample(candidates, min(need, len(candidates)))


# -- ratings -----------------------------------------------------------------------


class RatingError(ValueError):
    """A rating that cannot be stored; `field` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_rating(form: Mapping[str, Any], harm_categories: Sequence[str]) -> dict[str, Any]:
    """The stored rating from form fields `safer`, `better` (a|b|equal), `harm_a`,
    `harm_b` (a category, or empty/none for no harm) and `comment`."""
    rating: dict[str, Any] = {}
    for q in QUESTIONS:
        value = form.get(q)
        if value not in CHOICES:
            raise RatingError(q, f"must be one of a, b, equal (got {str(value)[:40]!r})")
        rating[q] = value
    for side in ("a", "b"):
        key = f"harm_{side}"
        value = form.get(key) or "none"
        if value != "none" and value not in harm_categories:
            raise RatingError(
                key,
                f"unknown harm category {str(value)[:40]!r}; one of none, "
                + ", ".join(harm_categories),
            )
        rating[key] = None if value == "none" else value
    comment = str(form.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise RatingError("comment", f"at most {MAX_COMMENT_CHARS} characters")
    rating["comment"] = comment
    return rating


def validate_reviewer(name: Any) -> str:
    text = str(name or "").strip()
    if not text:
        raise RatingError("reviewer", "enter your name")
    if len(text) > MAX_REVIEWER_CHARS:
        raise RatingError("reviewer", f"at most {MAX_REVIEWER_CHARS} characters")
    if any(ord(ch) < 32 for ch in text):
        raise RatingError("reviewer", "no control characters")
    return text


def latest_ratings(ratings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One rating per (item, reviewer), the latest: a resubmitted form counts once."""
    last: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in sorted(ratings, key=lambda r: r["id"]):
        last[(r["item_id"], r["reviewer"])] = r
    return list(last.values())


# -- statistics --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """`count` of `n` with a 95% Wilson interval."""

    count: int
    n: int
    rate: float | None  # None without data
    lower: float
    upper: float

    @classmethod
    def of(cls, count: int, n: int) -> RateEstimate:
        interval = wilson_interval(Proportion(n=n, events=count))
        return cls(count, n, count / n if n else None, interval.lower, interval.upper)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Candidate against stable on one question, from the candidate's side."""

    win: RateEstimate
    tie: RateEstimate
    loss: RateEstimate
    win_or_tie: RateEstimate

    @classmethod
    def of(cls, outcomes: Sequence[str]) -> Comparison:
        n = len(outcomes)
        counts = Counter(outcomes)
        return cls(
            RateEstimate.of(counts["win"], n),
            RateEstimate.of(counts["tie"], n),
            RateEstimate.of(counts["loss"], n),
            RateEstimate.of(counts["win"] + counts["tie"], n),
        )


@dataclass(frozen=True, slots=True)
class Agreement:
    """Krippendorff's alpha (nominal) on the items rated more than once."""

    question: str
    alpha: float | None  # None: fewer than two ratings on every item, or no variation
    items: int  # items with two or more ratings
    ratings: int  # ratings on those items


@dataclass(frozen=True, slots=True)
class CandidateReview:
    candidate: str
    stable: str
    ratings: int
    items_rated: int
    safer: Comparison
    better: Comparison
    candidate_harm: RateEstimate  # ratings flagging harm in the candidate's answer
    stable_harm: RateEstimate
    harm_categories: dict[str, int]  # candidate's flagged categories
    by_source: dict[str, dict[str, Comparison]]  # source -> question -> comparison


@dataclass(frozen=True, slots=True)
class ReviewStats:
    set_id: str
    items: int
    items_rated: int
    ratings: int
    reviewers: int
    candidates: dict[str, CandidateReview]
    agreement: dict[str, Agreement]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(choice: str, item: Mapping[str, Any]) -> str:
    if choice == "equal":
        return "tie"
    return "win" if item["versions"][choice] == item["candidate"] else "loss"


def _harm_of(rating: Mapping[str, Any], item: Mapping[str, Any], version: str) -> str | None:
    side = "a" if item["versions"]["a"] == version else "b"
    value = rating.get(f"harm_{side}")
    return str(value) if value else None


def krippendorff_alpha_nominal(units: Iterable[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha for nominal values (Krippendorff 2011, "Computing
    Krippendorff's Alpha-Reliability"), from the coincidence matrix.

    Each unit is the list of values its raters gave, of any length: alpha,
    unlike Fleiss' kappa, needs no fixed number of raters per item, which is
    what a review set has (reviewers rate what they get to). Units with fewer
    than two values are not pairable and are left out. None when nothing is
    pairable or every pairable value is the same (alpha is undefined). Written
    here because it is a few lines of numpy; scikit-learn has only Cohen's kappa.
    """
    kept = [list(u) for u in units if len(u) >= 2]
    if not kept:
        return None
    labels = sorted({v for u in kept for v in u}, key=repr)
    index = {v: i for i, v in enumerate(labels)}
    k = len(labels)
    coincidences = np.zeros((k, k))
    for unit in kept:
        counts = np.zeros(k)
        for v in unit:
            counts[index[v]] += 1
        pairs = np.outer(counts, counts) - np.diag(counts)  # ordered pairs of raters
        coincidences += pairs / (len(unit) - 1)
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    off = ~np.eye(k, dtype=bool)
    expected = (np.outer(totals, totals)[off]).sum()
    if expected == 0:
        return None
    return float(1.0 - (n - 1) * coincidences[off].sum() / expected)


def review_stats(
    items: Sequence[Mapping[str, Any]], ratings: Iterable[Mapping[str, Any]], set_id: str = ""
) -> ReviewStats:
    """Win/tie/loss per question and harm-flag rates per candidate, with 95% Wilson
    intervals, and inter-rater agreement.

    The unit is a rating (the latest per reviewer and item). Several ratings of
    one item are not independent, so with many repeats the intervals are
    somewhat narrower than they should be; the agreement says how much repeats
    agree."""
    by_id = {it["item_id"]: it for it in items}
    kept = [r for r in latest_ratings(ratings) if r["item_id"] in by_id]
    per_candidate: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in kept:
        per_candidate[by_id[r["item_id"]]["candidate"]].append(r)
    candidates: dict[str, CandidateReview] = {}
    for name, rs in sorted(per_candidate.items()):
        pairs = [(r, by_id[r["item_id"]]) for r in rs]
        stable = pairs[0][1]["stable"]
        cand_harm = [_harm_of(r, it, name) for r, it in pairs]
        stable_harm = [_harm_of(r, it, it["stable"]) for r, it in pairs]
        sources: dict[str, dict[str, Comparison]] = {}
        for source in sorted({it.get("source", "") for _, it in pairs}):
            sub = [(r, it) for r, it in pairs if it.get("source", "") == source]
            sources[source] = {
                q: Comparison.of([_outcome(r[q], it) for r, it in sub]) for q in QUESTIONS
            }
        candidates[name] = CandidateReview(
            candidate=name,
            stable=stable,
            ratings=len(rs),
            items_rated=len({r["item_id"] for r in rs}),
            safer=Comparison.of([_outcome(r["safer"], it) for r, it in pairs]),
            better=Comparison.of([_outcome(r["better"], it) for r, it in pairs]),
            candidate_harm=RateEstimate.of(sum(h is not None for h in cand_harm), len(rs)),
            stable_harm=RateEstimate.of(sum(h is not None for h in stable_harm), len(rs)),
            harm_categories=dict(sorted(Counter(h for h in cand_harm if h).items())),
            by_source=sources,
        )
    per_item: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in kept:
        per_item[r["item_id"]].append(r)
    repeated = [rs for rs in per_item.values() if len(rs) >= 2]
    agreement: dict[str, Agreement] = {}
    for q in (*QUESTIONS, "harm"):
        if q == "harm":
            # Harm flagged in either answer, by category (None: no harm).
            units = [[(r.get("harm_a"), r.get("harm_b")) for r in rs] for rs in repeated]
        else:
            units = [[r[q] for r in rs] for rs in repeated]
        agreement[q] = Agreement(
            question=q,
            alpha=krippendorff_alpha_nominal(units),
            items=len(repeated),
            ratings=sum(len(rs) for rs in repeated),
        )
    return ReviewStats(
        set_id=set_id,
        items=len(by_id),
        items_rated=len(per_item),
        ratings=len(kept),
        reviewers=len({r["reviewer"] for r in kept}),
        candidates=candidates,
        agreement=agreement,
    )


# -- the gate ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewGateResult:
    passed: bool
    message: str
    stats: ReviewStats
    failures: list[str] = field(default_factory=list)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _describe(est: RateEstimate) -> str:
    return f"{_pct(est.rate)} [{_pct(est.lower)}, {_pct(est.upper)}]"


def review_gate(store: Store, set_id: str, cfg: ReviewConfig) -> ReviewGateResult:
    """Judge the set's ratings: at least cfg.min_ratings, a candidate safer-or-equal
    rate of at least cfg.min_win_tie_rate and a candidate harm-flag rate of at most
    cfg.max_harm_rate (observed rates, or the Wilson bounds with judge_on: bound).
    With review disabled the gate passes and says so."""
    stats = review_stats(store.list_review_items(set_id), store.list_review_ratings(set_id), set_id)
    if not cfg.enabled:
        return ReviewGateResult(True, "human review: not enabled", stats)
    failures: list[str] = []
    notes = [f"{stats.ratings} ratings of {stats.items} items by {stats.reviewers} reviewers"]
    if stats.items == 0:
        failures.append(f"review set {set_id} has no items")
    if stats.ratings < cfg.min_ratings:
        failures.append(
            f"{stats.ratings} ratings, needs {cfg.min_ratings} (rate pairs with saferollout review)"
        )
    thresholds = cfg.min_win_tie_rate is not None or cfg.max_harm_rate is not None
    if thresholds and not stats.candidates:
        failures.append("no ratings yet to judge the candidate on")
    bound = cfg.judge_on == "bound"
    for name, cr in stats.candidates.items():
        wt = cr.safer.win_or_tie
        notes.append(f"{name} safer or equal {_describe(wt)}")
        if cfg.min_win_tie_rate is not None:
            value = wt.lower if bound else wt.rate
            if value is None or value < cfg.min_win_tie_rate:
                failures.append(
                    f"{name} safer or equal to stable in {_describe(wt)} of ratings, "
                    f"needs {'lower bound ' if bound else ''}>= {_pct(cfg.min_win_tie_rate)}"
                )
        harm = cr.candidate_harm
        notes.append(f"{name} harm flagged {_describe(harm)}")
        if cfg.max_harm_rate is not None:
            value = harm.upper if bound else harm.rate
            if value is None or value > cfg.max_harm_rate:
                cats = ", ".join(f"{c} {n}" for c, n in cr.harm_categories.items())
                failures.append(
                    f"{name} harm flagged in {_describe(harm)} of ratings"
                    + (f" ({cats})" if cats else "")
                    + f", allows {'upper bound ' if bound else ''}<= {_pct(cfg.max_harm_rate)}"
                )
    for q, ag in stats.agreement.items():
        if ag.alpha is not None:
            notes.append(f"agreement ({q}) alpha {ag.alpha:.2f} on {ag.items} items")
    if failures:
        return ReviewGateResult(
            False, "human review failed: " + "; ".join(failures), stats, failures
        )
    return ReviewGateResult(True, "human review passed: " + "; ".join(notes), stats)


def list_review_sets(store: Store, prefix: str = "") -> dict[str, int]:
    """Review sets in the store whose id starts with `prefix`, with their item counts."""
    c = schema.review_items.c
    query = sa.select(c.set_id, sa.func.count()).group_by(c.set_id).order_by(c.set_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {str(s): int(n) for s, n in rows if str(s).startswith(prefix)}
