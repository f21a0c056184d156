"""A linear text classifier over word unigrams and bigrams, inferred with numpy only.

Why this shape: it must score thousands of responses per second on one core
without torch or scikit-learn at run time. A text's features are the counts
of its word unigrams and bigrams, weighted by idf and divided by the square
root of the summed squared idf of its n-gram occurrences (a length
normalization that needs no per-text deduplication, so a whole batch is
featurized with a few numpy calls). `scripts/train_*.py` computes exactly
these features (`feature_counts` + `normalizer`) when it fits a logistic
regression per label with scikit-learn; the weights ship as a small `.npz` in
`safety/data/`. Long texts are cut into windows of WINDOW words and a text
scores the maximum over its windows, so one harmful paragraph in a long
answer is not diluted by the rest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from functools import cache
from importlib import resources
from itertools import pairwise, repeat
from pathlib import Path
from typing import Any

import numpy as np

from ._exceptions import ModelDataError
from ._text import LEXICON, TextView, prepare

WINDOW = 256  # words per scoring window
FORMAT_VERSION = 2


def text_features(tokens: Sequence[str]) -> set[str]:
    """The distinct unigrams and bigrams of a token list."""
    feats = set(tokens)
    feats.update([a + " " + b for a, b in pairwise(tokens)])
    return feats


def feature_counts(tokens: Sequence[str]) -> Counter[str]:
    """Occurrences of each unigram and bigram; the training scripts use this same function."""
    counts = Counter(tokens)
    counts.update([a + " " + b for a, b in pairwise(tokens)])
    return counts


def windows(tokens: Sequence[str]) -> list[Sequence[str]]:
    """Tokens cut into windows of WINDOW words, overlapping by a quarter so a phrase cut
    at a boundary is still seen whole once."""
    if len(tokens) <= WINDOW:
        return [tokens]
    step = WINDOW * 3 // 4
    return [tokens[i : i + WINDOW] for i in range(0, len(tokens) - WINDOW // 4, step)]


class LinearTextModel:
    """Per-label logistic regression on idf-weighted, L2-normalized binary n-grams."""

    def __init__(
        self,
        vocab: Sequence[str],
        idf: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        labels: Sequence[str],
        meta: dict[str, Any] | None = None,
    ) -> None:
        if weights.shape != (len(labels), len(vocab)) or idf.shape != (len(vocab),):
            raise ModelDataError("weight shapes do not match the vocabulary and labels")
        self.vocab_list = list(vocab)
        self.vocab = {term: i for i, term in enumerate(self.vocab_list)}
        self._index_tokens()
        self.labels = tuple(labels)
        self.idf = idf.astype(np.float64)
        self.idf_sq = self.idf**2
        # Fold idf into the weights once: score = bias + (W * idf)[:, ids].sum() / norm.
        self.weighted = np.ascontiguousarray((weights * self.idf).T, dtype=np.float64)
        self.weights = weights
        self.bias = bias.astype(np.float64)
        self.meta = meta or {}

    # -- persistence --------------------------------------------------------

    def save(self, path: str | Path) -> None:
        vocab_bytes = np.frombuffer("\n".join(self.vocab_list).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(
            path,
            vocab=vocab_bytes,
            idf=self.idf.astype(np.float32),
            weights=self.weights.astype(np.float16),  # halves the file; scores move < 1e-3
            bias=self.bias.astype(np.float32),
            labels=np.frombuffer("\n".join(self.labels).encode(), dtype=np.uint8),
            meta=np.frombuffer(
                json.dumps({**self.meta, "format": FORMAT_VERSION}).encode(), dtype=np.uint8
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> LinearTextModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                vocab = bytes(data["vocab"]).decode("utf-8").split("\n")
                labels = bytes(data["labels"]).decode().split("\n")
                meta = json.loads(bytes(data["meta"]).decode())
                return cls(vocab, data["idf"], data["weights"], data["bias"], labels, meta)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelDataError(f"cannot load model weights {path}: {exc}") from exc

    # -- inference ------------------------------------------------------------

    def _index_tokens(self) -> None:
        """Map the model's n-grams onto LEXICON ids, so a batch prepared once by
        `_text.prepare` is featurized with numpy gathers and a few dict lookups."""
        local: dict[str, int] = {}
        uni: dict[int, int] = {}
        bigrams: list[tuple[int, int, int]] = []
        for f, term in enumerate(self.vocab_list):
            parts = term.split(" ")
            ids = [local.setdefault(p, len(local)) for p in parts]
            if len(ids) == 1:
                uni[ids[0]] = f
            else:
                bigrams.append((ids[0], ids[1], f))
        gid = LEXICON.add(local)  # local id -> lexicon id (dicts keep insertion order)
        self._uni_pairs = np.array([(gid[t], f) for t, f in uni.items()], dtype=np.int64)
        self._first_g = np.unique(gid[[a for a, _, _ in bigrams]]) if bigrams else gid[:0]
        self._second_g = np.unique(gid[[b for _, b, _ in bigrams]]) if bigrams else gid[:0]
        self._bi = {(int(gid[a]) << 32) | int(gid[b]): f for a, b, f in bigrams}
        self._size = -1
        self._fit_lexicon()

    def _fit_lexicon(self) -> None:
        """(Re)size the lookup arrays to the lexicon; the last slot answers for id -1."""
        n = len(LEXICON)
        if n == self._size:
            return
        self._uni_feat = np.full(n + 1, -1, dtype=np.int64)
        self._uni_feat[self._uni_pairs[:, 0]] = self._uni_pairs[:, 1]
        self._first_ok = np.zeros(n + 1, dtype=bool)
        self._first_ok[self._first_g] = True
        self._second_ok = np.zeros(n + 1, dtype=bool)
        self._second_ok[self._second_g] = True
        self._size = n

    def _features(self, views: Sequence[TextView]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row of each n-gram occurrence, its feature id, owner text of each row); rows
        are windows of WINDOW tokens, cut as index ranges."""
        prepare(views)
        self._fit_lexicon()
        id_lists = [v.ids for v in views]
        lengths = [len(x) for x in id_lists]
        tok = np.concatenate(id_lists) if id_lists else np.zeros(0, dtype=np.int64)
        if max(lengths, default=0) <= WINDOW:
            owners = np.arange(len(lengths))
            rows = np.repeat(owners, lengths)
        else:
            segments: list[np.ndarray] = []
            seg_lengths: list[int] = []
            owner_list: list[int] = []
            offset = 0
            step = WINDOW * 3 // 4
            for t, n in enumerate(lengths):
                starts = range(0, n - WINDOW // 4, step) if n > WINDOW else range(1)
                for a in starts:
                    b = min(a + WINDOW, n)
                    segments.append(np.arange(offset + a, offset + b))
                    seg_lengths.append(b - a)
                    owner_list.append(t)
                offset += n
            tok = tok[np.concatenate(segments)] if segments else tok
            owners = np.asarray(owner_list)
            rows = np.repeat(np.arange(len(seg_lengths)), seg_lengths)
        uni = self._uni_feat[tok]  # id -1 reads the last slot: no feature
        hit = uni >= 0
        feat_rows = [rows[hit]]
        feats = [uni[hit]]
        if len(tok) > 1 and self._bi:
            left, right = tok[:-1], tok[1:]
            ok = (rows[:-1] == rows[1:]) & self._first_ok[left] & self._second_ok[right]
            keys = ((left[ok] << 32) | right[ok]).tolist()
            bi = np.fromiter(map(self._bi.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
            found = bi >= 0
            feat_rows.append(rows[:-1][ok][found])
            feats.append(bi[found])
        return np.concatenate(feat_rows), np.concatenate(feats), owners

    def decision_views(self, views: Sequence[TextView]) -> np.ndarray:
        """Logits, shape (len(views), len(labels)); the max over each text's windows."""
        n = len(views)
        out = np.full((n, len(self.labels)), -np.inf)
        if n == 0:
            return out
        rows, feats, owners = self._features(views)
        nrows = len(owners)
        norms = np.bincount(rows, weights=self.idf_sq[feats], minlength=nrows)
        contrib = np.empty((nrows, len(self.labels)))
        for k in range(len(self.labels)):
            contrib[:, k] = np.bincount(rows, weights=self.weighted[feats, k], minlength=nrows)
        empty = norms == 0
        norms = np.sqrt(norms)
        norms[empty] = 1.0
        logits = contrib / norms[:, None] + self.bias
        # No known word at all (empty text, another script): no evidence of anything.
        logits[empty] = -30.0
        if nrows == n:
            return logits
        np.maximum.at(out, owners, logits)
        return out

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        return self.decision_views([TextView(t) for t in texts])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities per label, shape (len(texts), len(labels))."""
        return _sigmoid(self.decision(texts))

    def predict_proba_views(self, views: Sequence[TextView]) -> np.ndarray:
        return _sigmoid(self.decision_views(views))

    def top_terms(self, tokens: Sequence[str], label: str, k: int = 3) -> list[str]:
        """The n-grams that pushed `label` up most: evidence for a reviewer."""
        col = self.labels.index(label)
        best: dict[str, float] = {}
        for window in windows(tokens)[:4]:
            for term in text_features(window):
                i = self.vocab.get(term)
                if i is not None:
                    w = float(self.weighted[i, col])
                    if w > 0 and w > best.get(term, 0.0):
                        best[term] = w
        return [t for t, _ in sorted(best.items(), key=lambda kv: -kv[1])[:k]]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@cache
def load_packaged(name: str) -> LinearTextModel:
    """A model shipped in `saferollout/safety/data/<name>.npz` (loaded once per process)."""
    ref = resources.files("saferollout.safety") / "data" / f"{name}.npz"
    try:
        with resources.as_file(ref) as path:
            if not path.exists():
                raise ModelDataError(
                    f"missing model file {path}; rebuild it with scripts/train_{name}.py"
                )
            return LinearTextModel.load(path)
    except FileNotFoundError as exc:
        raise ModelDataError(f"missing model file for {name!r}: {exc}") from exc
