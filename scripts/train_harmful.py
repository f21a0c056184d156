"""Train the `harmful` content scorer and write src/saferollout/safety/data/harmful.npz.

Development only (needs scikit-learn from the `dev` extra); the shipped scorer
runs the saved weights with numpy (`saferollout.safety._linear`).

Training data (all public, see ../shared/datasets/README.md; licences MIT and
CC-BY-4.0) and the hand-written seeds are assembled by `build_safety_data.py`,
which also documents the train/test split. Categories: violence, hate
(hate and harassment), sexual, self_harm, crime (weapons, illegal instructions).

    .venv/bin/python scripts/train_harmful.py            # fit, report held-out figures, save
    .venv/bin/python scripts/train_harmful.py --no-save  # fit and report only
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_safety_data import CATEGORIES, Example, harmful_content_examples  # noqa: E402

from saferollout.safety._linear import LinearTextModel, feature_counts, windows  # noqa: E402
from saferollout.safety._text import tokenize  # noqa: E402

SOURCES = (
    "Davidson et al. hate-speech-and-offensive-language (MIT); JailbreakBench artifacts (MIT); "
    "HarmBench, AdvBench, StrongREJECT behaviours via AdversariaLLM (MIT); XSTest prompts "
    "(CC-BY-4.0); BBQ contexts (CC-BY-4.0); Presidio synthetic sentences (MIT); hand-written "
    "seeds in scripts/build_safety_data.py (Apache-2.0)"
)


def window_rows(examples: Sequence[Example]) -> tuple[list[Counter[str]], list[int]]:
    """Feature counts per window and the example index each window came from."""
    feats: list[Counter[str]] = []
    owner: list[int] = []
    for i, e in enumerate(examples):
        for tokens in windows(tokenize(e.text)):
            feats.append(feature_counts(tokens))
            owner.append(i)
    return feats, owner


def build_vocab(feats: Sequence[Counter[str]], min_df: int) -> tuple[list[str], np.ndarray]:
    df: Counter[str] = Counter()
    for f in feats:
        df.update(f.keys())
    vocab = sorted(t for t, n in df.items() if n >= min_df)
    n = len(feats)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab])
    return vocab, idf


def matrix(
    feats: Sequence[Counter[str]], vocab: Sequence[str], idf: np.ndarray
) -> sparse.csr_matrix:
    """count * idf / sqrt(sum over occurrences of idf^2): what LinearTextModel computes."""
    index = {t: i for i, t in enumerate(vocab)}
    indptr = [0]
    indices: list[int] = []
    counts: list[int] = []
    for f in feats:
        known = sorted((index[t], c) for t, c in f.items() if t in index)
        indices.extend(i for i, _ in known)
        counts.extend(c for _, c in known)
        indptr.append(len(indices))
    idx = np.asarray(indices, dtype=np.int64)
    cnt = np.asarray(counts, dtype=np.float64)
    m = sparse.csr_matrix((cnt * idf[idx], idx, np.asarray(indptr)), shape=(len(feats), len(vocab)))
    sq = sparse.csr_matrix((cnt * idf[idx] ** 2, idx, np.asarray(indptr)), shape=m.shape)
    norms = np.sqrt(np.asarray(sq.sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


def fit(
    examples: Sequence[Example],
    labels: Sequence[str],
    *,
    c: float = 4.0,
    min_df: int = 2,
    max_features: int = 40_000,
) -> LinearTextModel:
    """Per-label logistic regression; prune to the strongest features, then refit."""
    from sklearn.linear_model import LogisticRegression

    feats, owner = window_rows(examples)
    vocab, idf = build_vocab(feats, min_df)

    def fit_all(vocab: list[str], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = matrix(feats, vocab, idf)
        weights = np.zeros((len(labels), len(vocab)))
        bias = np.zeros(len(labels))
        for k, label in enumerate(labels):
            rows = [r for r, i in enumerate(owner) if label in examples[i].labels]
            y = np.array([examples[owner[r]].labels[label] for r in rows])
            w = np.array([examples[owner[r]].weight for r in rows])
            clf = LogisticRegression(
                C=c, class_weight="balanced", max_iter=2000, solver="liblinear"
            )
            clf.fit(x[rows], y, sample_weight=w)
            weights[k] = clf.coef_[0]
            bias[k] = clf.intercept_[0]
        return weights, bias

    weights, bias = fit_all(vocab, idf)
    if len(vocab) > max_features:
        strength = np.abs(weights).max(axis=0)
        keep = np.sort(np.argsort(-strength)[:max_features])
        vocab = [vocab[i] for i in keep]
        idf = idf[keep]
        weights, bias = fit_all(vocab, idf)
    return LinearTextModel(vocab, idf, weights, bias, labels)


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="mergesort")
    y = y[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    return float((precision * y).sum() / max(1, y.sum()))


def report(model: LinearTextModel, test: Sequence[Example], title: str) -> dict[str, float]:
    probs = model.predict_proba([e.text for e in test])
    print(f"\n{title}: {len(test)} texts")
    figures: dict[str, float] = {}
    for k, label in enumerate(model.labels):
        known = [i for i, e in enumerate(test) if label in e.labels]
        y = np.array([test[i].labels[label] for i in known])
        if y.sum() == 0 or y.sum() == len(y):
            continue
        ap = average_precision(y, probs[known, k])
        figures[label] = ap
        print(f"  {label:10s} AUPRC {ap:.3f}  (pos {int(y.sum())}/{len(y)})")
    full = [i for i, e in enumerate(test) if all(c in e.labels for c in model.labels)]
    y = np.array([max(test[i].labels.values()) for i in full])
    s = probs[full].max(axis=1)
    if 0 < y.sum() < len(y):
        figures["any"] = average_precision(y, s)
        print(f"  {'any':10s} AUPRC {figures['any']:.3f}  (pos {int(y.sum())}/{len(y)})")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--c", type=float, default=4.0)
    parser.add_argument("--max-features", type=int, default=40_000)
    args = parser.parse_args()

    examples = harmful_content_examples()
    train = [e for e in examples if e.split == "train" and e.labels]
    test = [e for e in examples if e.split == "test" and e.labels]
    print(f"train {len(train)} texts, test {len(test)} texts")
    model = fit(train, CATEGORIES, c=args.c, max_features=args.max_features)
    figures = report(model, test, "held-out test split (all sources)")
    for source in sorted({e.source for e in test}):
        report(model, [e for e in test if e.source == source], f"held-out: {source}")
    model.meta = {
        "name": "harmful",
        "trained": dt.date.today().isoformat(),
        "sources": SOURCES,
        "train_texts": len(train),
        "heldout_auprc": {k: round(v, 4) for k, v in figures.items()},
        "c": args.c,
    }
    if not args.no_save:
        out = ROOT / "src" / "saferollout" / "safety" / "data" / "harmful.npz"
        model.save(out)
        print(f"\nwrote {out} ({out.stat().st_size // 1024} KiB, {len(model.vocab_list)} features)")


if __name__ == "__main__":
    main()
