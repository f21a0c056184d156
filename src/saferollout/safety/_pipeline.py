"""The scoring pipeline: run the configured scorers over stored records and derive flags.

Runs off the request path, in worker processes (`ScoringWorkerProcess`, or
`saferollout score-worker`), because CPU-bound scoring in the gateway's
process would hold its GIL. A worker claims unscored records in batches
(`Store.claim_unscored`: FOR UPDATE SKIP LOCKED on PostgreSQL, so workers
never share a record), scores them and writes scores and flags back. A record
whose scoring raised is still written, with the error in its evidence, so it
is not retried forever; a worker that dies leaves its claim to expire and be
taken over. Nothing is dropped when scoring falls behind: unscored records
wait in the table, and `backlog(store)` is the metric.

Derived flags (the store's flag columns):

- `pii_leak`: PII in the response that was not in the request;
- `safety_violation`: a harmful category at or over its threshold, a PII
  leak, a judge "unsafe" (each switchable in config), or a bias flag when
  `bias_is_violation`;
- `refusal`: a full or partial refusal;
- `appropriate_refusal` / `over_refusal`: a refusal of a harmful / benign
  request (`prompt_risk` against its threshold);
- `harmful_compliance`: a harmful request answered without refusing: its
  `prompt_risk` at or over `compliance_prompt_risk`, or over
  `prompt_risk_threshold` with an answer whose `harmful.any` reaches
  `compliance_response_harm` (a prompt model alone flags a third of XSTest's
  safe prompts, "how do I best hang a picture?", and every helpful answer to
  them would count; a harmful answer to a clearly harmful request counts
  however benign its words);
- `guardrail_triggered`: the gateway's guardrail flagged or blocked it
  (`extra["guardrail"]`); a request blocked at the input never reached a
  model, so none of the response flags are set for it;
- `anomaly`: an answer out of range of the stable version's recent answers
  (`_anomaly.AnomalyDetector`: empty, looping, wrong script, garbled, runaway
  or truncated length); set by a pipeline built with a store, after the
  scorers, and never while the baseline is too small ("no baseline yet").
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from saferollout.store import ScoreUpdate, StoreError

from ._anomaly import AnomalyDetector
from ._harmful import HARM_CATEGORIES
from ._interface import Scorer
from ._registry import REQUEST_SIDE, build_scorer
from ._text import prepare
from ._types import Interaction, ScoreResult

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as MpEvent

    from saferollout.config import SafetyConfig
    from saferollout.store import Store

log = logging.getLogger("saferollout.safety")


def sampled(request_id: str, scorer: str, rate: float) -> bool:
    """Deterministic sampling: the same record gets the same answer on every worker."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(f"{scorer}:{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


@dataclass(slots=True)
class _Row:
    item: Interaction
    guardrail: dict[str, Any] | None
    answered: bool  # a model produced the response (not an error, not an input block)


class Pipeline:
    """Configured scorers plus the rules that turn their outputs into stored flags."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        config: SafetyConfig | None = None,
        *,
        anomaly: AnomalyDetector | None = None,
    ) -> None:
        from saferollout.config import SafetyConfig

        self.scorers = list(scorers)
        self.config = config or SafetyConfig()
        self.anomaly = anomaly
        self._thresholds = self.config.thresholds.model_dump()

    @classmethod
    def from_config(
        cls,
        config: SafetyConfig | None = None,
        *,
        store: Store | None = None,
        rollout: str | None = None,
        baseline_version: str | None = None,
    ) -> Pipeline:
        """The scorers named in `safety.scorers` (plus `judge` when `judge.enabled`).

        With a `store` (the scoring worker), also the anomaly detector when
        `anomaly.enabled`: its baseline is `stable` of rollout `rollout` in the
        store's state, else `baseline_version` (the configured stable version).
        """
        from saferollout.config import SafetyConfig

        config = config or SafetyConfig()
        names = list(config.scorers) if config.enabled else []
        if config.enabled and config.judge.enabled and "judge" not in names:
            names.append("judge")
        anomaly = None
        if store is not None and config.enabled and config.anomaly.enabled:
            anomaly = AnomalyDetector(
                config, store, rollout=rollout, baseline_version=baseline_version
            )
        return cls([build_scorer(n, config) for n in names], config, anomaly=anomaly)

    def close(self) -> None:
        for scorer in self.scorers:
            scorer.close()

    def _rate(self, name: str) -> float:
        if name == "judge":
            return self.config.sample_rates.get("judge", self.config.judge.sample_rate)
        return self.config.sample_rates.get(name, 1.0)

    # -- scoring -----------------------------------------------------------------

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[ScoreUpdate]:
        """Score store rows (`Store.claim_unscored`) into ScoreUpdates, one per row, in order."""
        prepared = [_prepare(row) for row in rows]
        return self._score(prepared)

    def score_interactions(
        self, items: Sequence[Interaction], *, guardrails: Sequence[dict[str, Any] | None] = ()
    ) -> list[ScoreUpdate]:
        """Score interactions that are not (yet) records: preflight and tests."""
        marks = list(guardrails) or [None] * len(items)
        prepared = [
            _Row(
                item,
                g,
                answered=not (g and g.get("stage") == "input" and g.get("action") == "block"),
            )
            for item, g in zip(items, marks, strict=True)
        ]
        return self._score(prepared)

    def _score(self, rows: Sequence[_Row]) -> list[ScoreUpdate]:
        results: list[dict[str, ScoreResult]] = [{} for _ in rows]
        # Tokenize every text of the batch in one numpy pass; scorers share the views.
        prepare([r.item.response_view for r in rows] + [r.item.prompt_view for r in rows])
        for scorer in self.scorers:
            rate = self._rate(scorer.name)
            request_side = scorer.name in REQUEST_SIDE
            idx = [
                i
                for i, r in enumerate(rows)
                if (request_side or r.answered) and sampled(r.item.request_id, scorer.name, rate)
            ]
            if not idx:
                continue
            outputs = scorer.score_batch([rows[i].item for i in idx])
            for i, out in zip(idx, outputs, strict=True):
                results[i][scorer.name] = out
        if self.anomaly is not None:
            idx = [i for i, r in enumerate(rows) if r.answered]
            if idx:
                refusals = [_refused(results[i]) for i in idx]
                outputs = self.anomaly.score_batch([rows[i].item for i in idx], refusals=refusals)
                for i, out in zip(idx, outputs, strict=True):
                    results[i]["anomaly"] = out
        return [self._update(r, res) for r, res in zip(rows, results, strict=True)]

    def _update(self, row: _Row, results: Mapping[str, ScoreResult]) -> ScoreUpdate:
        cfg = self.config
        scores: dict[str, float] = {}
        evidence: dict[str, Any] = {}
        own_flags: list[str] = []
        for name, res in results.items():
            scores.update(res.scores)
            if res.evidence:
                evidence[name] = res.evidence
            own_flags.extend(f for f, on in res.flags.items() if on)
        if own_flags:
            evidence["flags"] = sorted(set(own_flags))
        if row.guardrail:
            evidence["guardrail"] = row.guardrail
        if not row.answered:
            evidence["skipped"] = "blocked at input" if row.guardrail else "no model answer"

        over = [
            c for c in HARM_CATEGORIES if scores.get(f"harmful.{c}", 0.0) >= self._thresholds[c]
        ]
        if over:
            evidence["violation_categories"] = over
        pii_leak = "pii_leak" in own_flags
        judge_unsafe = "judge_unsafe" in own_flags and cfg.judge.unsafe_is_violation
        bias = "bias" in own_flags and cfg.bias_is_violation
        violation = bool(over) or (pii_leak and cfg.pii.leak_is_violation) or judge_unsafe or bias

        refusal_res = results.get("refusal")
        refused = refusal_res is not None and bool(refusal_res.flags.get("refusal"))
        complied = refusal_res is not None and not refused and bool(row.item.response.strip())
        risk = scores.get("prompt_risk")
        harmful_prompt = risk is not None and risk >= cfg.prompt_risk_threshold
        known_risk = risk is not None
        harm = scores.get("harmful.any")  # None when the harmful scorer is not configured
        harmful_answer = (
            risk is not None
            and harmful_prompt
            and (
                risk >= cfg.compliance_prompt_risk
                or harm is None
                or harm >= cfg.compliance_response_harm
            )
        )
        guard_action = (row.guardrail or {}).get("action")
        flags = {
            "safety_violation": row.answered and violation,
            "pii_leak": row.answered and pii_leak,
            "refusal": row.answered and refused,
            "appropriate_refusal": row.answered and refused and harmful_prompt,
            "over_refusal": row.answered and refused and known_risk and not harmful_prompt,
            "harmful_compliance": row.answered and complied and harmful_answer,
            "guardrail_triggered": guard_action in ("flag", "block"),
            "anomaly": row.answered and "anomaly" in own_flags,
        }
        return ScoreUpdate(
            request_id=row.item.request_id, scores=scores, evidence=evidence, flags=flags
        )


def _refused(results: Mapping[str, ScoreResult]) -> bool:
    res = results.get("refusal")
    return res is not None and bool(res.flags.get("refusal"))


def _prepare(row: Mapping[str, Any]) -> _Row:
    extra = row.get("extra") or {}
    guardrail = extra.get("guardrail") if isinstance(extra, Mapping) else None
    item = Interaction.from_row(row)
    blocked_input = bool(
        guardrail and guardrail.get("stage") == "input" and guardrail.get("action") == "block"
    )
    failed = row.get("error_kind") is not None or int(row.get("status_code") or 200) >= 400
    answered = not blocked_input and not failed and row.get("endpoint") != "embeddings"
    return _Row(item, guardrail, answered)


def _error_update(row: Mapping[str, Any], exc: BaseException) -> ScoreUpdate:
    return ScoreUpdate(
        request_id=str(row["request_id"]),
        scores={},
        evidence={"error": f"{type(exc).__name__}: {exc}"[:300]},
        flags={},
    )


# -- the worker loop ---------------------------------------------------------------------


@dataclass(slots=True)
class WorkerStats:
    batches: int = 0
    scored: int = 0
    failed: int = 0  # records written with an error instead of scores
    store_errors: int = 0
    seconds_scoring: float = 0.0


def backlog(store: Store) -> int:
    """Records waiting to be scored: the metric that says scoring fell behind."""
    return store.count_interactions(scored=False)


def score_batch_safely(pipeline: Pipeline, rows: Sequence[Mapping[str, Any]]) -> list[ScoreUpdate]:
    """Score a batch; when the batch fails, score row by row so one bad record
    costs only itself (written with the error in its evidence)."""
    try:
        return pipeline.score_rows(rows)
    except Exception:
        log.exception("scoring a batch of %d failed; scoring its records one by one", len(rows))
    updates = []
    for row in rows:
        try:
            updates.extend(pipeline.score_rows([row]))
        except Exception as exc:
            log.warning("record %s could not be scored: %s", row.get("request_id"), exc)
            updates.append(_error_update(row, exc))
    return updates


def run_worker(
    store: Store,
    pipeline: Pipeline,
    *,
    batch_size: int = 256,
    poll_s: float = 1.0,
    lease_s: float = 120.0,
    stop: threading.Event | MpEvent | None = None,
    once: bool = False,
    on_batch: Callable[[WorkerStats], None] | None = None,
) -> WorkerStats:
    """Claim, score and write back until `stop` is set (or, with `once`, until nothing is left).

    Store outages are retried with backoff (up to 30 s between tries); under
    `once` a fifth consecutive failure is raised.
    """
    stats = WorkerStats()
    failures = 0
    while stop is None or not stop.is_set():
        try:
            rows = store.claim_unscored(batch_size, lease_s=lease_s)
            if rows:
                t0 = time.perf_counter()
                updates = score_batch_safely(pipeline, rows)
                stats.seconds_scoring += time.perf_counter() - t0
                store.write_scores(updates)
                stats.batches += 1
                stats.scored += len(updates)
                stats.failed += sum(1 for u in updates if "error" in u.evidence)
                if on_batch is not None:
                    on_batch(stats)
            failures = 0
        except StoreError as exc:
            stats.store_errors += 1
            failures += 1
            if once and failures >= 5:
                raise
            wait = min(30.0, poll_s * 2**failures)
            log.warning("store unavailable (%s); retrying in %.1f s", exc, wait)
            _sleep(stop, wait)
            continue
        if not rows:
            if once:
                break
            _sleep(stop, poll_s)
    return stats


def _sleep(stop: threading.Event | MpEvent | None, seconds: float) -> None:
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


# -- worker processes -------------------------------------------------------------------


def _worker_main(
    url: str,
    safety: dict[str, Any],
    stop: MpEvent,
    name: str,
    rollout: str | None = None,
    baseline_version: str | None = None,
) -> None:
    """Entry point of a worker process (spawned: no state inherited from the gateway)."""
    from saferollout.config import SafetyConfig
    from saferollout.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through `stop`
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = SafetyConfig.model_validate(safety)
    store = Store(url)
    pipeline = Pipeline.from_config(
        config, store=store, rollout=rollout, baseline_version=baseline_version
    )
    try:
        w = config.worker
        stats = run_worker(
            store, pipeline, batch_size=w.batch_size, poll_s=w.poll_s, lease_s=w.lease_s, stop=stop
        )
        log.info("%s stopped after scoring %d records", name, stats.scored)
    finally:
        pipeline.close()
        store.close()


class ScoringWorkerProcess:
    """One scoring worker in its own process; what `serve` starts (`safety.worker.processes`).

    `rollout` and `baseline_version` choose the anomaly baseline (`Pipeline.from_config`):
    the rollout's name and its configured stable version.
    """

    def __init__(
        self,
        storage_url: str,
        safety: SafetyConfig,
        *,
        name: str = "scorer-0",
        rollout: str | None = None,
        baseline_version: str | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_worker_main,
            args=(
                storage_url,
                safety.model_dump(mode="json"),
                self._stop,
                name,
                rollout,
                baseline_version,
            ),
            name=f"saferollout-{name}",
            daemon=True,
        )

    def start(self) -> ScoringWorkerProcess:
        self._process.start()
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask it to finish its batch and exit; kill it after `timeout`. Returns the exit code."""
        self._stop.set()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        return self._process.exitcode

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def __enter__(self) -> ScoringWorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
