"""Text helpers shared by the lexical scorers: one normalization, one tokenization per text.

Speed matters (the default scorer set must score thousands of 200-word
responses per second on one core), and on CPython a regex scan costs tens of
nanoseconds per character per pattern. So each text is tokenized once with
`str.translate` + `str.split` (C loops, no regex) and its tokens looked up
once in a shared `LEXICON` (the words of every model vocabulary and every
trigger word a scorer registered). Scorers then look at a text's trigger words
(`TextView.hits`) and token ids (`TextView.ids`), and run their regexes only
near the words that can match. (A numpy byte-level tokenizer was tried: on a
loaded 2-vCPU machine its ~15 array passes per batch cost more than this.)

Tokenization (`tokenize`, also what the models are trained on): lower case;
ASCII punctuation except the apostrophe and common non-ASCII punctuation and
spaces become spaces; apostrophes are dropped ("can't" -> "cant"); split on
whitespace.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from itertools import repeat

import numpy as np

# -- normalization ------------------------------------------------------------------------

_FOLD_CHARS = "\u2019\u2018\u02bc\u201c\u201d"
_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
_PUNCT = string.punctuation.replace("'", "") + (
    "\u2026\u2013\u2014\u00ab\u00bb\u00bf\u00a1\u3001\u3002\uff0c\uff01\uff1f\u201c\u201d"
    "\u00b7\u2022\u2212\u2010\u2011"
)
_SPLIT = str.maketrans({**dict.fromkeys(_PUNCT, " "), **dict.fromkeys("'\u2019\u2018\u02bc")})
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")


def normalize(text: str) -> str:
    """Lowercase with typographic apostrophes and quotes folded to ASCII (for regexes)."""
    low = text.lower()
    if any(c in low for c in _FOLD_CHARS):
        low = low.translate(_FOLD)
    return low


def tokenize(text: str) -> list[str]:
    """Word tokens: what `TextView.tokens` holds and what the models are trained on."""
    return text.lower().translate(_SPLIT).split()


# -- the lexicon ----------------------------------------------------------------------------


class Lexicon:
    """Words with stable integer ids: model vocabularies and scorers' trigger words."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        self.trigger = np.zeros(1, dtype=bool)  # by id; the last slot answers for id -1

    def __len__(self) -> int:
        return len(self.words)

    def add(self, words: Iterable[str], *, trigger: bool = False) -> np.ndarray:
        """Ids of `words`, adding the new ones."""
        ids = []
        for w in words:
            i = self.index.get(w)
            if i is None:
                i = self.index[w] = len(self.words)
                self.words.append(w)
            ids.append(i)
        if len(self.trigger) <= len(self.words):
            grown = np.zeros(len(self.words) + 1, dtype=bool)
            grown[: len(self.trigger) - 1] = self.trigger[:-1]
            self.trigger = grown
        out = np.asarray(ids, dtype=np.int64)
        if trigger:
            self.trigger[out] = True
        return out


LEXICON = Lexicon()


def register_triggers(words: str | Iterable[str]) -> frozenset[str]:
    """Mark words a scorer wants to see in `TextView.hits`; returns them as a frozenset."""
    found = frozenset(words.split() if isinstance(words, str) else words)
    LEXICON.add(sorted(found), trigger=True)
    return found


# -- views and batch preparation ------------------------------------------------------------


class TextView:
    """One text with its normalized form, token ids and trigger words, computed once."""

    __slots__ = ("_hits", "_ids", "_longest", "_low", "_tokens", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._low: str | None = None
        self._tokens: list[str] | None = None
        self._ids: np.ndarray | None = None
        self._hits: set[str] | None = None
        self._longest = 0

    @property
    def low(self) -> str:
        if self._low is None:
            self._low = normalize(self.text)
        return self._low

    @property
    def tokens(self) -> list[str]:
        """The word tokens."""
        if self._tokens is None:
            self._tokens = tokenize(self.text)
        return self._tokens

    @property
    def ids(self) -> np.ndarray:
        """LEXICON id of each token, -1 for words no model or scorer knows."""
        if self._ids is None:
            prepare([self])
        assert self._ids is not None
        return self._ids

    @property
    def longest(self) -> int:
        """Characters in the longest token (long tokens may be keys or secrets)."""
        if self._ids is None:
            prepare([self])
        return self._longest

    @property
    def hits(self) -> set[str]:
        """The registered trigger words present in this text."""
        if self._hits is None:
            prepare([self])
        assert self._hits is not None
        return self._hits


def prepare(views: Sequence[TextView]) -> None:
    """Tokenize texts and fill each view's `ids`, `hits` and `longest` (once per view)."""
    todo = [v for v in views if v._ids is None]
    if not todo:
        return
    get = LEXICON.index.get
    ids: list[int] = []
    bounds = [0]
    for v in todo:
        tokens = v.tokens
        ids.extend(map(get, tokens, repeat(-1)))
        bounds.append(len(ids))
        v._longest = max(map(len, tokens), default=0)
    arr = np.fromiter(ids, dtype=np.int64, count=len(ids))
    trig = LEXICON.trigger[arr]
    words = LEXICON.words
    for k, v in enumerate(todo):
        a, z = bounds[k], bounds[k + 1]
        v._ids = arr[a:z]
        t = trig[a:z]
        v._hits = {words[i] for i in v._ids[t].tolist()} if t.any() else set()
