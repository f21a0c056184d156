"""Binary classification metrics for the harness: numbers in, numbers out (numpy only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class BinaryMetrics:
    """Quality of one score against one 0/1 label; None where undefined (one class only)."""

    n: int
    positives: int
    threshold: float
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float
    auroc: float | None
    auprc: float | None
    fpr_at_95_tpr: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def auroc(y: np.ndarray, s: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank-sum (ties count half)."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def average_precision(y: np.ndarray, s: np.ndarray) -> float | None:
    """AUPRC as average precision (the step-wise sum scikit-learn reports), ties grouped."""
    pos = int(y.sum())
    if pos == 0:
        return None
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    # evaluate only at the last index of each run of equal scores
    last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / pos
    prev_recall = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev_recall) * precision))


def fpr_at_tpr(y: np.ndarray, s: np.ndarray, tpr: float = 0.95) -> float | None:
    """False-positive rate at the highest threshold that reaches `tpr` recall."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    pos_scores = np.sort(s[y == 1])[::-1]
    k = int(np.ceil(tpr * pos)) - 1
    cut = pos_scores[k]
    return float((s[y == 0] >= cut).sum() / neg)


def binary_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> BinaryMetrics:
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    return BinaryMetrics(
        n=len(y),
        positives=int(y.sum()),
        threshold=threshold,
        precision=precision,
        recall=recall,
        f1=f1,
        accuracy=float((pred == (y == 1)).mean()) if len(y) else 0.0,
        auroc=auroc(y, s),
        auprc=average_precision(y, s),
        fpr_at_95_tpr=fpr_at_tpr(y, s),
    )


@dataclass(frozen=True, slots=True)
class SpanMetrics:
    """Entity-span detection quality for one entity type (overlap with the same type counts)."""

    gold: int
    predicted: int
    matched_predicted: int  # predictions overlapping a gold span of the same type
    matched_gold: int  # gold spans overlapped by a prediction of the same type

    @property
    def precision(self) -> float | None:
        return self.matched_predicted / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.matched_gold / self.gold if self.gold else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gold": self.gold, "predicted": self.predicted}
        for name in ("precision", "recall", "f1"):
            v = getattr(self, name)
            out[name] = None if v is None else round(v, 4)
        return out
