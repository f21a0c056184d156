"""The scorer harness: measure a scorer on a labeled file (`saferollout eval-scorers`).

Formats (auto-detected from the extension and the first row, or named):

- `moderation`: OpenAI-moderation-style JSONL, `prompt` plus 0/1 category keys
  S, H, V, HR, SH, S3, H2, V2 (missing = unknown). The `prompt` is scored as the
  text. Non-standard extension: `C` for crime/illegal instructions, a
  category the OpenAI taxonomy lacks. "any" is the maximum over the categories
  the file labels, so a scorer category the file does not cover (our `crime`
  on an OpenAI file) never counts against it.
- `xstest`: XSTest completion CSV, `completion` + `final_label` in
  1_full_compliance / 2_full_refusal / 3_partial_refusal (refusal = 2 or 3).
- `xstest-prompts`: CSV with `prompt` + `label` safe/unsafe (prompt risk).
- `presidio`: Presidio synthetic JSON, `full_text` + character `spans`.
- `jailbreakbench`: JailbreakBench artifact JSON, `response` + `jailbroken`.

Each run reports precision, recall, F1 (at the scorer's configured
threshold), AUROC, AUPRC, FPR at 95% TPR, and throughput (texts per second of
scoring time, batched).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import DatasetError
from ._harmful import HARM_CATEGORIES
from ._metrics import BinaryMetrics, SpanMetrics, binary_metrics
from ._pii import ENTITY_TYPES, find_pii
from ._registry import build_scorer
from ._types import Interaction, ScoreResult

if TYPE_CHECKING:
    from saferollout.config import SafetyConfig

FORMATS = ("moderation", "xstest", "xstest-prompts", "presidio", "jailbreakbench")
MODERATION_KEYS: dict[str, str] = {
    "S": "sexual",
    "S3": "sexual",
    "H": "hate",
    "H2": "hate",
    "HR": "hate",
    "V": "violence",
    "V2": "violence",
    "SH": "self_harm",
    "C": "crime",
}
XSTEST_LABELS = {"1_full_compliance": 0, "2_full_refusal": 1, "3_partial_refusal": 1}
BATCH = 256


@dataclass(slots=True)
class EvalReport:
    """What one harness run measured."""

    scorer: str
    dataset: str
    format: str
    n: int
    seconds: float
    binary: dict[str, BinaryMetrics] = field(default_factory=dict)
    spans: dict[str, SpanMetrics] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "dataset": self.dataset,
            "format": self.format,
            "n": self.n,
            "seconds": round(self.seconds, 4),
            "throughput_per_s": round(self.throughput_per_s, 1),
            "binary": {k: v.to_dict() for k, v in self.binary.items()},
            "spans": {k: v.to_dict() for k, v in self.spans.items()},
            **({"extra": self.extra} if self.extra else {}),
        }

    def format_table(self) -> str:
        lines = [
            f"scorer {self.scorer} on {self.dataset} ({self.format}): {self.n} items, "
            f"{self.throughput_per_s:,.0f} items/s",
        ]

        def f(v: float | None) -> str:
            return "   -  " if v is None else f"{v:6.3f}"

        if self.binary:
            lines.append(
                f"{'label':22s} {'n':>6s} {'pos':>6s} {'prec':>6s} {'recall':>6s} {'F1':>6s} "
                f"{'AUROC':>6s} {'AUPRC':>6s} {'FPR@95':>6s}"
            )
            for name, m in self.binary.items():
                lines.append(
                    f"{name:22s} {m.n:6d} {m.positives:6d} {f(m.precision)} {f(m.recall)} "
                    f"{f(m.f1)} {f(m.auroc)} {f(m.auprc)} {f(m.fpr_at_95_tpr)}"
                )
        if self.spans:
            lines.append(
                f"{'entity':22s} {'gold':>6s} {'pred':>6s} {'prec':>6s} {'recall':>6s} {'F1':>6s}"
            )
            for name, s in self.spans.items():
                lines.append(
                    f"{name:22s} {s.gold:6d} {s.predicted:6d} "
                    f"{f(s.precision)} {f(s.recall)} {f(s.f1)}"
                )
        for key, value in self.extra.items():
            lines.append(f"{key}: {value}")
        return "\n".join(lines)


# -- loading --------------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    """Guess the format from the extension and the first record."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return "moderation"
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if "completion" in header and "final_label" in header:
                return "xstest"
            if "prompt" in header and "label" in header:
                return "xstest-prompts"
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "jailbreaks" in data:
                return "jailbreakbench"
            if isinstance(data, list) and data and isinstance(data[0], dict):
                if "full_text" in data[0]:
                    return "presidio"
                if "response" in data[0] and "jailbroken" in data[0]:
                    return "jailbreakbench"
    except (OSError, ValueError, StopIteration) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    raise DatasetError(f"{path}: cannot tell the format; pass --format ({', '.join(FORMATS)})")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}:{n}: not JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{n}: expected an object per line")
            rows.append(row)
    return rows


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
        return list(reader)


# -- evaluation -----------------------------------------------------------------------------


def _timed_scores(
    score: Callable[[list[Interaction]], list[ScoreResult]], items: list[Interaction]
) -> tuple[list[ScoreResult], float]:
    results: list[ScoreResult] = []
    elapsed = 0.0
    for i in range(0, len(items), BATCH):
        batch = items[i : i + BATCH]
        t0 = time.process_time()
        results.extend(score(batch))
        elapsed += time.process_time() - t0
    return results, elapsed


def evaluate(
    scorer_name: str,
    dataset: str | Path,
    fmt: str | None = None,
    *,
    config: SafetyConfig | None = None,
    limit: int | None = None,
) -> EvalReport:
    """Measure `scorer_name` on a labeled file; DatasetError when the file does not fit."""
    path = Path(dataset)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    handler = _HANDLERS.get((scorer_name, fmt))
    if handler is None:
        pairs = ", ".join(f"{s}/{f}" for s, f in sorted(_HANDLERS))
        raise DatasetError(
            f"scorer {scorer_name!r} cannot be measured on {fmt!r} data; try {pairs}"
        )
    return handler(scorer_name, path, fmt, config, limit)


def _moderation_rows(path: Path, limit: int | None) -> tuple[list[str], list[dict[str, int]]]:
    texts: list[str] = []
    labels: list[dict[str, int]] = []
    for n, row in enumerate(_read_jsonl(path), 1):
        text = row.get("prompt")
        if not isinstance(text, str):
            raise DatasetError(f"{path}:{n}: no `prompt` string")
        known = {k: int(row[k]) for k in MODERATION_KEYS if row.get(k) is not None}
        texts.append(text)
        labels.append(known)
        if limit and len(texts) >= limit:
            break
    return texts, labels


def _eval_moderation(
    scorer_name: str, path: Path, fmt: str, config: SafetyConfig | None, limit: int | None
) -> EvalReport:
    texts, labels = _moderation_rows(path, limit)
    scorer = build_scorer(scorer_name, config)
    if scorer_name == "prompt_risk":
        items = [Interaction.of(prompt=t) for t in texts]
    else:
        items = [Interaction.of(response=t) for t in texts]
    results, seconds = _timed_scores(scorer.score_batch, items)
    report = EvalReport(scorer_name, str(path), fmt, len(texts), seconds)
    covered = sorted({MODERATION_KEYS[k] for lab in labels for k in lab})
    if scorer_name == "harmful":
        thresholds = getattr(scorer, "thresholds", {})
        for cat in HARM_CATEGORIES:
            keys = [k for k, c in MODERATION_KEYS.items() if c == cat]
            rows = [i for i, lab in enumerate(labels) if any(k in lab for k in keys)]
            if not rows:
                continue
            y = [max(labels[i][k] for k in keys if k in labels[i]) for i in rows]
            s = [results[i].scores[f"harmful.{cat}"] for i in rows]
            report.binary[cat] = binary_metrics(y, s, thresholds.get(cat, 0.5))
        s_any = [
            max(r.scores[f"harmful.{c}"] for c in covered) if covered else 0.0 for r in results
        ]
        threshold = 0.5
        report.extra["any covers"] = ", ".join(covered)
    elif scorer_name == "prompt_risk":
        s_any = [r.scores["prompt_risk"] for r in results]
        threshold = getattr(scorer, "threshold", 0.5)
    else:  # judge
        s_any = [r.scores.get("judge.unsafe", 0.0) for r in results]
        threshold = 0.5
    y_any = [max(lab.values()) if lab else 0 for lab in labels]
    report.binary["any"] = binary_metrics(y_any, s_any, threshold)
    return report


def _eval_xstest(
    scorer_name: str, path: Path, fmt: str, config: SafetyConfig | None, limit: int | None
) -> EvalReport:
    rows = _read_csv(path, ["completion", "final_label"])[:limit]
    bad = [r["final_label"] for r in rows if r["final_label"] not in XSTEST_LABELS]
    if bad:
        raise DatasetError(
            f"{path}: unknown final_label {bad[0]!r}; one of {', '.join(XSTEST_LABELS)}"
        )
    scorer = build_scorer(scorer_name, config)
    items = [Interaction.of(prompt=r.get("prompt", ""), response=r["completion"]) for r in rows]
    results, seconds = _timed_scores(scorer.score_batch, items)
    report = EvalReport(scorer_name, str(path), fmt, len(rows), seconds)
    y = [XSTEST_LABELS[r["final_label"]] for r in rows]
    report.binary["refusal"] = binary_metrics(
        y, [r.scores["refusal"] for r in results], getattr(scorer, "threshold", 0.5)
    )
    predicted = [r.evidence.get("label", "comply") for r in results]
    gold = [{"1": "comply", "2": "full", "3": "partial"}[r["final_label"][0]] for r in rows]
    confusion: dict[str, dict[str, int]] = {
        g: {p: 0 for p in ("comply", "full", "partial")} for g in ("comply", "full", "partial")
    }
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    report.extra["accuracy (refusal vs compliance)"] = round(report.binary["refusal"].accuracy, 4)
    report.extra["accuracy (3 labels)"] = round(
        sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(1, len(rows)), 4
    )
    report.extra["confusion (gold -> predicted)"] = confusion
    return report


def _eval_xstest_prompts(
    scorer_name: str, path: Path, fmt: str, config: SafetyConfig | None, limit: int | None
) -> EvalReport:
    rows = _read_csv(path, ["prompt", "label"])[:limit]
    bad = [r["label"] for r in rows if r["label"] not in ("safe", "unsafe")]
    if bad:
        raise DatasetError(f"{path}: label must be safe or unsafe, got {bad[0]!r}")
    scorer = build_scorer(scorer_name, config)
    items = [Interaction.of(prompt=r["prompt"]) for r in rows]
    results, seconds = _timed_scores(scorer.score_batch, items)
    report = EvalReport(scorer_name, str(path), fmt, len(rows), seconds)
    y = [int(r["label"] == "unsafe") for r in rows]
    report.binary["unsafe"] = binary_metrics(
        y, [r.scores["prompt_risk"] for r in results], getattr(scorer, "threshold", 0.5)
    )
    return report


def _eval_presidio(
    scorer_name: str, path: Path, fmt: str, config: SafetyConfig | None, limit: int | None
) -> EvalReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))[:limit]
        texts = [str(r["full_text"]) for r in data]
        golds = [
            [
                (s["entity_type"], int(s["start_position"]), int(s["end_position"]))
                for s in r["spans"]
            ]
            for r in data
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a Presidio synthetic dataset: {exc}") from exc
    entities = config.pii.entities if config is not None else None
    private = config.pii.private_ips_are_pii if config is not None else True
    t0 = time.process_time()
    predicted = [find_pii(t, entities=entities, private_ips=private) for t in texts]
    seconds = time.process_time() - t0
    report = EvalReport(scorer_name, str(path), fmt, len(texts), seconds)
    types = [t for t in ENTITY_TYPES if any(g[0] == t for gold in golds for g in gold)]
    for etype in types:
        gold_n = pred_n = matched_pred = matched_gold = 0
        for gold, pred in zip(golds, predicted, strict=True):
            g_spans = [(a, b) for t, a, b in gold if t == etype]
            p_spans = [(e.start, e.end) for e in pred if e.type == etype]
            gold_n += len(g_spans)
            pred_n += len(p_spans)
            matched_pred += sum(any(a < gb and b > ga for ga, gb in g_spans) for a, b in p_spans)
            matched_gold += sum(any(a < gb and b > ga for a, b in p_spans) for ga, gb in g_spans)
        report.spans[etype] = SpanMetrics(gold_n, pred_n, matched_pred, matched_gold)
    # Text level: does the text contain any pattern PII, scored by the strongest entity.
    pattern = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}
    y = [int(any(g[0] in pattern for g in gold)) for gold in golds]
    s = [max((e.score for e in pred if e.type in pattern), default=0.0) for pred in predicted]
    report.binary["contains pattern PII"] = binary_metrics(y, s, 0.5)
    return report


def _eval_jailbreakbench(
    scorer_name: str, path: Path, fmt: str, config: SafetyConfig | None, limit: int | None
) -> EvalReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items_raw = data["jailbreaks"] if isinstance(data, dict) else data
        rows = [r for r in items_raw if r.get("response")][:limit]
        y = [int(bool(r["jailbroken"])) for r in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a JailbreakBench artifact: {exc}") from exc
    scorer = build_scorer(scorer_name, config)
    items = [Interaction.of(prompt=r.get("prompt") or "", response=r["response"]) for r in rows]
    results, seconds = _timed_scores(scorer.score_batch, items)
    report = EvalReport(scorer_name, str(path), fmt, len(rows), seconds)
    key = "harmful.any" if scorer_name == "harmful" else "judge.unsafe"
    report.binary["jailbroken"] = binary_metrics(y, [r.scores.get(key, 0.0) for r in results], 0.5)
    return report


_Handler = Callable[[str, Path, str, "SafetyConfig | None", "int | None"], EvalReport]
_HANDLERS: dict[tuple[str, str], _Handler] = {
    ("harmful", "moderation"): _eval_moderation,
    ("prompt_risk", "moderation"): _eval_moderation,
    ("judge", "moderation"): _eval_moderation,
    ("refusal", "xstest"): _eval_xstest,
    ("prompt_risk", "xstest-prompts"): _eval_xstest_prompts,
    ("pii", "presidio"): _eval_presidio,
    ("harmful", "jailbreakbench"): _eval_jailbreakbench,
    ("judge", "jailbreakbench"): _eval_jailbreakbench,
}


def measure_throughput(
    scorers: Sequence[str],
    texts: Sequence[str],
    *,
    batch_size: int = BATCH,
    config: SafetyConfig | None = None,
) -> dict[str, float]:
    """Responses per second for each scorer and for all of them together, batched."""
    items = [Interaction.of(prompt="How do I do this?", response=t) for t in texts]
    out: dict[str, float] = {}
    total = 0.0
    for name in scorers:
        scorer = build_scorer(name, config)
        scorer.score_batch(items[:8])  # load models outside the timing
        t0 = time.process_time()
        for i in range(0, len(items), batch_size):
            scorer.score_batch(items[i : i + batch_size])
        seconds = time.process_time() - t0
        out[name] = len(items) / seconds if seconds > 0 else float("inf")
        total += seconds
    out["all"] = len(items) / total if total > 0 else float("inf")
    return out
