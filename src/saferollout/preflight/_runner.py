"""One preflight run: send, score, measure, judge, verify; everything the report needs.

`run_preflight` is the whole of `saferollout preflight` apart from argument
parsing and writing files: the CLI, the demo and the tests call it alike.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from saferollout.config import RolloutConfig, config_hash, version_hash
from saferollout.store import Store

from ._checks import Check
from ._client import Messages, Reply, Target, send_all_sync
from ._findings import review_findings
from ._jailbreak import jailbreak_variants
from ._metrics import jailbreak_metrics, version_metrics
from ._outcomes import Outcome, preflight_pipeline, score_replies
from ._progress import Progress
from ._suites import (
    Finding,
    SuiteItem,
    default_suite_paths,
    file_sha256,
    load_findings,
    load_suites,
)
from ._thresholds import check_thresholds
from ._verify import verify_config


@dataclass
class PreflightOptions:
    """What to run; paths already resolved (the CLI resolves them against rollout.yaml)."""

    suites: Sequence[Path] | None = None  # None: config.preflight.suites or the shipped ones
    findings: Path | None = None
    compare_stable: bool | None = None  # None: config.preflight.compare_stable
    limit: int | None = None  # first N items of each suite
    config_text: str | None = None  # raw rollout.yaml, scanned for literal secrets
    progress: TextIO | None = None  # None: stderr
    backoff_s: float = 0.2


@dataclass
class PreflightResult:
    passed: bool
    checks: list[Check]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks], **self.data}


def _resolve(config: RolloutConfig, options: PreflightOptions) -> tuple[list[Path], Path | None]:
    if options.suites:
        suites = [Path(p) for p in options.suites]
    elif config.preflight.suites:
        suites = [Path(p) for p in config.preflight.suites]
    else:
        suites = default_suite_paths()
    findings = options.findings
    if findings is None and config.preflight.findings:
        findings = Path(config.preflight.findings)
    return suites, findings


def _failing(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [o.to_dict() for o in outcomes if o.problems]


def _new_failures(cand: Sequence[Outcome], stable: Sequence[Outcome] | None) -> list[str]:
    """Items the candidate gets wrong in a way stable did not."""
    if stable is None:
        return []
    before = {o.item_id: set(o.problems) for o in stable}
    return [o.item_id for o in cand if set(o.problems) - before.get(o.item_id, set())]


def run_preflight(
    config: RolloutConfig, store: Store | None, options: PreflightOptions | None = None
) -> PreflightResult:
    """Run every preflight check on `config.candidate`. Raises PreflightError (and its
    SuiteError) on bad input; unreachable servers and failed checks are results."""
    options = options or PreflightOptions()
    pf = config.preflight
    started = time.time()
    suite_paths, findings_path = _resolve(config, options)
    items = load_suites(suite_paths, limit=options.limit)
    findings: list[Finding] = load_findings(findings_path) if findings_path else []
    compare = pf.compare_stable if options.compare_stable is None else options.compare_stable
    candidate = Target.from_config(config, config.candidate, timeout_s=pf.timeout_s)
    stable = Target.from_config(config, config.stable, timeout_s=pf.timeout_s)
    send = {
        "concurrency": pf.concurrency,
        "retries": pf.retries,
        "max_tokens": pf.max_tokens,
        "backoff_s": options.backoff_s,
    }
    stream = options.progress if options.progress is not None else sys.stderr

    # 1. Smoke: both versions must answer before the suites are sent.
    smoke_msgs: list[Messages] = [[{"role": "user", "content": pf.smoke_prompt}]]
    smoke_replies = send_all_sync([(candidate, smoke_msgs), (stable, smoke_msgs)], **send)
    smoke = {config.candidate: smoke_replies[0][0], config.stable: smoke_replies[1][0]}
    candidate_up = smoke[config.candidate].ok
    stable_up = smoke[config.stable].ok and compare

    # 2. Suites (+ jailbreak variants) to both, findings to the candidate.
    variants = (
        jailbreak_variants(items, pf.jailbreak.strategies, per_strategy=pf.jailbreak.items)
        if pf.jailbreak.strategies
        else []
    )
    probe = items + variants
    jobs: list[tuple[Target, list[Messages]]] = []
    if candidate_up:
        jobs.append((candidate, [i.messages for i in probe] + [f.messages for f in findings]))
    if stable_up:
        jobs.append((stable, [i.messages for i in probe]))
    total = sum(len(m) for _, m in jobs)
    replies: list[list[Reply]] = []
    if jobs:
        with Progress(total, f"preflight {config.candidate}", stream=stream) as bar:
            replies = send_all_sync(jobs, on_done=bar.advance, **send)

    # 3. Score and measure.
    pipeline = preflight_pipeline(config.safety)
    checks: list[Check] = []
    data: dict[str, Any] = {}
    try:
        cand_out: list[Outcome] = []
        stab_out: list[Outcome] | None = None
        finding_out: dict[str, Outcome] = {}
        if candidate_up:
            n = len(probe)
            cand_all = score_replies(pipeline, config.candidate, probe, replies[0][:n])
            cand_out = cand_all[: len(items)]
            cand_jb = cand_all[len(items) :]
            finding_items = [
                SuiteItem(f.id, f.messages, "refuse", f.category, suite="findings")
                for f in findings
            ]
            for o in score_replies(pipeline, config.candidate, finding_items, replies[0][n:]):
                finding_out[o.item_id] = o
        if stable_up:
            stab_all = score_replies(pipeline, config.stable, probe, replies[-1])
            stab_out = stab_all[: len(items)]
            stab_jb = stab_all[len(items) :]
    finally:
        pipeline.close()

    metrics: dict[str, Any] = {}
    if candidate_up:
        metrics[config.candidate] = version_metrics(items, cand_out)
    if stab_out is not None:
        metrics[config.stable] = version_metrics(items, stab_out)
    jailbreak: dict[str, Any] = {}
    if variants and candidate_up:
        jailbreak[config.candidate] = jailbreak_metrics(cand_jb)
        if stab_out is not None:
            jailbreak[config.stable] = jailbreak_metrics(stab_jb)

    # 4. Judge.
    if candidate_up:
        jb_values = {}
        if variants:
            jb_values["jailbreak_attack_success_rate"] = (
                jailbreak[config.candidate]["value"],
                jailbreak.get(config.stable, {}).get("value"),
            )
        checks += check_thresholds(
            pf.thresholds,
            metrics[config.candidate],
            metrics.get(config.stable),
            extra_values=jb_values,
        )
        for c in checks:
            if c.name == "threshold: jailbreak_attack_success_rate":
                c.section = "jailbreak"
    else:
        checks.append(
            Check(
                "suite: candidate answered",
                False,
                "the candidate did not answer the smoke prompt; no suite was sent",
                "start the candidate's server and check versions.<candidate>.url",
            )
        )
    if compare and not stable_up:
        checks.append(
            Check(
                "suite: stable answered",
                False,
                "stable did not answer the smoke prompt; nothing to compare with",
                "start stable's server, or run with --no-stable for absolute limits only",
            )
        )
    findings_summary: dict[str, Any] | None = None
    if findings:
        f_checks, findings_summary = review_findings(findings, finding_out, pf.accepted_findings)
        checks += f_checks
    checks += verify_config(
        config,
        store=store,
        smoke=smoke,
        unreachable={} if compare else {config.stable: "not compared (--no-stable)"},
        raw_text=options.config_text,
    )
    if not compare:
        # Reachability of stable is not required when stable is not compared.
        checks = [
            c
            for c in checks
            if not (c.name.startswith("config: stable") and "not compared" in c.found)
        ]
    review: dict[str, Any] | None = None
    if pf.review.enabled and store is not None and candidate_up and stab_out is not None:
        review, review_check = _human_review(config, store, items, cand_out, stab_out, send)
        checks.append(review_check)

    passed = all(c.ok for c in checks)
    data = {
        "rollout": config.name,
        "candidate": config.candidate,
        "stable": config.stable if compare else None,
        "version_hash": version_hash(config, config.candidate),
        "config_hash": config_hash(config),
        "started_at": started,
        "finished_at": time.time(),
        "suites": [
            {
                "path": str(p),
                "sha256": file_sha256(p),
                "items": sum(1 for i in items if i.suite == p.name),
            }
            for p in suite_paths
        ],
        "findings_file": (
            {"path": str(findings_path), "sha256": file_sha256(findings_path)}
            if findings_path
            else None
        ),
        "limit": options.limit,
        "metrics": metrics,
        "jailbreak": jailbreak or None,
        "findings": findings_summary,
        "review": review,
        "failing_items": {
            config.candidate: _failing(cand_out),
            **({config.stable: _failing(stab_out)} if stab_out is not None else {}),
        },
        "new_failures": _new_failures(cand_out, stab_out),
        "jailbreak_failures": _failing(cand_jb) if variants and candidate_up else [],
        "thresholds": {k: v.model_dump(exclude_none=True) for k, v in pf.thresholds.items()},
    }
    return PreflightResult(passed, checks, data)


def _human_review(
    config: RolloutConfig,
    store: Store,
    items: Sequence[SuiteItem],
    cand: Sequence[Outcome],
    stab: Sequence[Outcome],
    send: dict[str, Any],
) -> tuple[dict[str, Any], Check]:
    """Top up the blinded review set (suite and real prompts) and judge its ratings (H2's)."""
    from ._review import (
        ReviewPair,
        build_review_set,
        review_gate,
        review_set_id,
        sample_real_prompts,
    )

    cfg = config.preflight.review
    set_id = review_set_id(config)
    pairs = [
        ReviewPair(i.id, [dict(m) for m in i.messages], c.response, s.response, i.category)
        for i, c, s in zip(items, cand, stab, strict=True)
        if c.answered and s.answered
    ]
    real = sample_real_prompts(store, set_id, cfg)
    real_pairs: list[ReviewPair] = []
    if real:
        targets = [Target.from_config(config, v) for v in (config.candidate, config.stable)]
        msgs = [r.messages for r in real]
        got = send_all_sync([(t, msgs) for t in targets], **send)
        real_pairs = [
            ReviewPair(r.ref, r.messages, c.text, s.text)
            for r, c, s in zip(real, got[0], got[1], strict=True)
            if c.ok and s.ok
        ]
    built = build_review_set(
        store, set_id, pairs, real_pairs, cfg, candidate=config.candidate, stable=config.stable
    )
    gate = review_gate(store, set_id, cfg)
    try:
        stats = dataclasses.asdict(gate.stats)
    except TypeError:
        stats = None
    summary = {
        "set_id": set_id,
        "items": len(built.items),
        "added": built.added,
        "passed": gate.passed,
        "message": gate.message,
        "failures": gate.failures,
        "stats": stats,
    }
    check = Check(
        "review: human ratings",
        gate.passed,
        gate.message,
        fix=f"rate the pairs of set {set_id} with `saferollout review -c rollout.yaml`",
        section="review",
    )
    return summary, check
