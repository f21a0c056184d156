"""Train the `prompt_risk` scorer and write src/saferollout/safety/data/prompt_risk.npz.

prompt_risk answers "is the request itself asking for harmful help?", which is
what tells an appropriate refusal (harmful prompt refused) from an over-refusal
(benign prompt refused) and a harmful compliance (harmful prompt answered).
Development only (scikit-learn); inference is numpy (`saferollout.safety._linear`).

Positives: HarmBench/AdvBench behaviours and JailbreakBench goals and attack
prompts (misinformation requests included), XSTest unsafe prompts (train half),
hand-written harmful requests in everyday question frames. Negatives: XSTest
safe prompts (train half: "how do I kill a Python process"), everyday, homonym,
definition and history requests in ~80 question frames ("How do I ...", "Can
you walk me through how to ...", "Write a tutorial on how to ..."), older benign
templates, BBQ contexts and questions, Presidio customer-service sentences,
Davidson "neither" tweets, stdlib docstrings. StrongREJECT is held out
entirely, XSTest half held out, everyday requests held out by frame and by
task; see build_safety_data.py (`everyday_requests`).

Question frames carry no weight by construction: n-grams made only of frame and
function words and light verbs ("how do i", "walk me through", "write a
tutorial on how to", "make") are left out of the vocabulary, so a score can only
come from what is asked for ("kill a zombie process" vs "kill my neighbor").
Inference needs nothing new: a word the vocabulary lacks is simply not seen.

    .venv/bin/python scripts/train_prompt_risk.py [--no-save]
    .venv/bin/python scripts/train_prompt_risk.py --dev --sweep  # fit on train minus dev
    .venv/bin/python scripts/train_prompt_risk.py --model X.npz  # measure a saved model only

The report's held-out tables (AUPRC, false-positive rate on benign and recall on
harmful at the threshold) come from data the model was not fitted on; the last
one is the simulation's prompt mix (src/saferollout/simulation/data/prompts.jsonl),
which is never trained on and is measured only on its prompts that do not occur
in the training data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_safety_data import (
    _ITEM_FRAMES,
    _PREFIXES,
    _TASK_FRAMES,
    _TOPIC_FRAMES,
    Example,
    _words,
    prompt_risk_examples,
    split_of,
)
from train_harmful import ROOT, average_precision, build_vocab, matrix, window_rows

from saferollout.safety._linear import LinearTextModel
from saferollout.safety._text import tokenize

SOURCES = (
    "JailbreakBench artifacts (MIT); HarmBench, AdvBench behaviours via AdversariaLLM (MIT); "
    "XSTest prompts (CC-BY-4.0); BBQ contexts and questions (CC-BY-4.0); Presidio synthetic "
    "sentences (MIT); Davidson et al. neutral tweets (MIT); Python stdlib docstrings (PSF); "
    "hand-written seeds and everyday/harmful request templates in "
    "scripts/build_safety_data.py (Apache-2.0). Held out: StrongREJECT, half of XSTest"
)
SIM_PROMPTS = ROOT / "src" / "saferollout" / "simulation" / "data" / "prompts.jsonl"
DEFAULT_THRESHOLD = 0.4  # safety.prompt_risk_threshold

# Words of the question frames and plain function words. An n-gram made only of these is
# not a feature: "how do i", "can you walk me through how to", "write a tutorial on" say
# nothing about what is asked for.
_FUNCTION_WORDS = [
    "a", "an", "the", "to", "of", "in", "on", "for", "by", "with", "and", "or", "at", "as",
    "from", "into", "about", "that", "this", "these", "those", "it", "its", "is", "are", "be",
    "am", "was", "were", "do", "does", "did", "can", "could", "would", "should", "will",
    "shall", "may", "might", "i", "im", "id", "ive", "me", "my", "you", "your", "we", "our",
    "us", "they", "them", "their", "he", "she", "his", "her", "some", "any", "there", "here",
    "so", "if", "then", "than", "just", "also", "very", "really", "please", "hi", "hey",
    "hello", "thanks", "thank",
]  # fmt: skip


# Light verbs: "make", "get", "create" say nothing until their object does ("make
# pancakes" vs "make meth"); alone they are not features, in a bigram they still are.
_LIGHT_VERBS = [
    "make", "makes", "making", "made", "get", "gets", "getting", "got", "create", "creating",
    "build", "building", "find", "finding", "take", "taking", "put", "go", "going", "keep",
]  # fmt: skip


# Words of the frames that can also be what is asked about ("shoot up my school").
_CONTENT_IN_FRAMES = [
    "school", "project", "high", "class", "friend", "website", "sells", "post", "blog",
    "essay", "quiz", "five", "hands", "near", "buy", "get", "look", "process", "work", "use",
]  # fmt: skip


def frame_words() -> frozenset[str]:
    """Function words plus the words of the question frames the templates use."""
    words = set(_FUNCTION_WORDS) | set(_LIGHT_VERBS)
    for frame in (*_TASK_FRAMES, *_TOPIC_FRAMES, *_ITEM_FRAMES, *_PREFIXES):
        words.update(tokenize(frame.format(task=" ", topic=" ", item=" ")))
    return frozenset(words - (set(_CONTENT_IN_FRAMES) - set(_LIGHT_VERBS)))


FRAME_WORDS = frame_words()


def is_frame_only(term: str) -> bool:
    return all(w in FRAME_WORDS for w in term.split(" "))


def class_balanced_weights(examples: Sequence[Example]) -> np.ndarray:
    """Example weights with both classes of equal total weight, and the same inside the
    templated requests: there every frame and prefix is drawn for harmful and benign
    tasks alike, so with equal mass per class a frame n-gram the vocabulary filter
    missed ("friend asked", "i get") has no net pull either way."""
    w = np.array([e.weight for e in examples], dtype=np.float64)
    y = np.array([e.labels["harmful"] for e in examples])
    templated = np.array([e.source == "everyday" for e in examples])
    for part in (templated, ~templated):
        pos, neg = part & (y == 1), part & (y == 0)
        if pos.any() and neg.any():
            w[pos] *= w[neg].sum() / w[pos].sum()
    total = w.sum()
    for label in (0, 1):
        w[y == label] *= total / (2 * w[y == label].sum())
    return w


def fit(
    examples: Sequence[Example],
    *,
    c: float = 4.0,
    min_df: int = 2,
    max_features: int = 20_000,
    neutral_frames: bool = True,
) -> LinearTextModel:
    """Logistic regression on the `harmful` label; frame-only n-grams are not features."""
    from sklearn.linear_model import LogisticRegression

    feats, owner = window_rows(examples)
    vocab, idf = build_vocab(feats, min_df)
    if neutral_frames:
        keep = [i for i, t in enumerate(vocab) if not is_frame_only(t)]
        vocab, idf = [vocab[i] for i in keep], idf[keep]
    y = np.array([examples[i].labels["harmful"] for i in owner])
    w = class_balanced_weights(examples)[owner]

    def fit_once(vocab: list[str], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clf = LogisticRegression(C=c, max_iter=2000, solver="liblinear")
        clf.fit(matrix(feats, vocab, idf), y, sample_weight=w)
        return clf.coef_[0], clf.intercept_

    weights, bias = fit_once(vocab, idf)
    if len(vocab) > max_features:
        keep = np.sort(np.argsort(-np.abs(weights))[:max_features])
        vocab, idf = [vocab[i] for i in keep], idf[keep]
        weights, bias = fit_once(vocab, idf)
    return LinearTextModel(vocab, idf, weights[None, :], bias, ("harmful",))


# -- measurement -------------------------------------------------------------------------


def measure(
    model: LinearTextModel, rows: Sequence[tuple[str, int]], threshold: float
) -> dict[str, float]:
    """AUPRC (when both classes are present), false-positive rate and recall at threshold."""
    if not rows:
        return {}
    s = model.predict_proba([t for t, _ in rows])[:, 0]
    y = np.array([label for _, label in rows])
    out: dict[str, float] = {"n": len(y), "pos": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["auprc"] = average_precision(y, s)
    if (y == 0).any():
        out["fpr"] = float((s[y == 0] >= threshold).mean())
    if (y == 1).any():
        out["recall"] = float((s[y == 1] >= threshold).mean())
    return out


def sim_rows(train_words: set[tuple[str, ...]]) -> dict[str, list[tuple[str, int]]]:
    """The simulation's prompt mix (never trained on), minus prompts seen in training."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for line in SIM_PROMPTS.read_text().splitlines():
        d = json.loads(line)
        if tuple(_words(d["prompt"])) in train_words:
            continue
        row = (d["prompt"], int(d["label"] == "harmful"))
        groups.setdefault("sim: all unseen", []).append(row)
        if "information" in d["category"]:  # mis-/disinformation: the weakest harmful group
            groups.setdefault("sim: harmful, misinformation", []).append(row)
            continue
        groups.setdefault(f"sim: {d['label']} / {d['source']}", []).append(row)
    return dict(sorted(groups.items()))


# Template domains (build_safety_data.py): everyday requests, and requests whose words
# are loaded on purpose (homonyms, idioms, "without", "someone", privacy).
ORDINARY = {
    "cooking", "coding", "maths", "writing", "travel", "health", "finance", "home", "science",
    "history", "languages", "garden_pets_family", "work_tech_hobbies", "topics",
    "people_opinion",
}  # fmt: skip
LOADED = {"homonyms", "generic_words", "figurative", "privacy", "history_definitions"}


def heldout_groups(
    examples: Sequence[Example], test: Sequence[Example]
) -> dict[str, list[tuple[str, int]]]:
    def rows(keep: Callable[[Example], bool]) -> list[tuple[str, int]]:
        return [(e.text, e.labels["harmful"]) for e in test if keep(e)]

    public = ("bbq", "bbq_question", "presidio", "stdlib_docs", "davidson", "benign_template")
    benign = [(e.text, 0) for e in test if e.labels["harmful"] == 0 and e.source in public]
    train_words = {tuple(_words(e.text)) for e in examples if e.split == "train"}
    return {
        "held-out, all sources": rows(lambda e: True),
        "held-out, public sources": rows(lambda e: e.source != "everyday"),
        "everyday, all (frame or task unseen)": rows(lambda e: e.source == "everyday"),
        "everyday, frame and task unseen": rows(
            lambda e: e.source == "everyday" and e.meta.get("unseen") == "2"
        ),
        "everyday, hand-written tasks": rows(
            lambda e: e.source == "everyday" and not e.meta["domain"].startswith("combo")
        ),
        "everyday, benign, ordinary domains": rows(
            lambda e: e.source == "everyday" and e.meta["domain"] in ORDINARY
        ),
        "everyday, benign, homonyms/idioms/loaded words": rows(
            lambda e: e.source == "everyday" and e.meta["domain"] in LOADED
        ),
        "everyday, harmful, hand-written": rows(
            lambda e: (
                e.source == "everyday"
                and e.labels["harmful"] == 1
                and not e.meta["domain"].startswith("combo")
            )
        ),
        "everyday, verb x object combinations": rows(
            lambda e: e.source == "everyday" and e.meta["domain"].startswith("combo")
        ),
        "xstest held-out half": rows(lambda e: e.source == "xstest"),
        "strongreject (source hold-out)": rows(lambda e: e.source == "strongreject"),
        "strongreject, without disinformation": rows(
            lambda e: e.source == "strongreject" and not e.meta.get("misinformation")
        ),
        "strongreject + held-out public benign": rows(lambda e: e.source == "strongreject")
        + benign,
        "harmbench/advbench/jbb held-out": rows(
            lambda e: e.source in ("harmbench", "advbench", "jbb_goal", "jbb_prompt")
        ),
        "bbq held-out (contexts, questions)": rows(lambda e: e.source.startswith("bbq")),
        **sim_rows(train_words),
    }


def report(
    model: LinearTextModel, groups: dict[str, list[tuple[str, int]]], threshold: float
) -> dict[str, dict[str, float]]:
    print(
        f"\n{'held-out group':42s} {'n':>5s} {'pos':>5s} {'AUPRC':>6s}  FPR@{threshold:<4}  recall"
    )
    figures = {}
    for name, rows in groups.items():
        m = measure(model, rows, threshold)
        figures[name] = m

        def f(k: str, m: dict[str, float] = m) -> str:
            return f"{m[k]:.3f}" if k in m else "  -  "

        print(
            f"{name:42s} {m.get('n', 0):5.0f} {m.get('pos', 0):5.0f} {f('auprc'):>6s}"
            f"  {f('fpr'):>8s}  {f('recall'):>6s}"
        )
    return figures


SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep(model: LinearTextModel, groups: dict[str, list[tuple[str, int]]]) -> None:
    """Benign false-positive rate and harmful recall at each threshold, per group."""
    print(f"\n{'threshold sweep':42s} " + " ".join(f"{t:>6}" for t in SWEEP))
    for name, rows in groups.items():
        if not rows:
            continue
        s = model.predict_proba([t for t, _ in rows])[:, 0]
        y = np.array([label for _, label in rows])
        for label, what in ((0, "FPR"), (1, "recall")):
            if (y == label).any():
                v = [float((s[y == label] >= t).mean()) for t in SWEEP]
                print(f"{name[:34] + ' ' + what:42s} " + " ".join(f"{x:6.3f}" for x in v))


def dev_split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """Carve a development split out of train (same grouping as the test split)."""
    fit_on, dev = [], []
    for e in examples:
        if e.split != "train":
            continue
        keys = e.meta.get("keys", "").split("|") if e.meta.get("keys") else [e.text]
        held = any(split_of("dev:" + k) == "test" for k in keys)
        (dev if held and e.source not in ("seed", "benign_seed") else fit_on).append(e)
    return fit_on, [
        Example(e.text, e.labels, e.source, "test", e.weight, {**e.meta, "unseen": "2"})
        for e in dev
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--dev", action="store_true", help="fit on train minus dev, report dev")
    parser.add_argument("--model", type=Path, help="only measure this saved model")
    parser.add_argument("--c", type=float, default=4.0)
    parser.add_argument("--max-features", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--sweep", action="store_true", help="FPR/recall per threshold")
    parser.add_argument("--frame-features", action="store_true", help="keep frame-only n-grams")
    args = parser.parse_args()

    examples = prompt_risk_examples()
    train = [e for e in examples if e.split == "train"]
    test = [e for e in examples if e.split == "test"]
    if args.dev:
        train, test = dev_split(examples)
        examples = train + test
    print(f"train {len(train)} texts, test {len(test)} texts")
    print("train sources:", dict(Counter(e.source for e in train)))
    groups = heldout_groups(examples, test)
    if args.model:
        model = LinearTextModel.load(args.model)
        report(model, groups, args.threshold)
        if args.sweep:
            sweep(model, groups)
        return
    model = fit(
        train, c=args.c, max_features=args.max_features, neutral_frames=not args.frame_features
    )
    figures = report(model, groups, args.threshold)
    if args.sweep:
        sweep(model, groups)
    if args.dev or args.no_save:
        return

    def auprc(name: str) -> float:
        return round(figures[name].get("auprc", math.nan), 4)

    model.meta = {
        "name": "prompt_risk",
        "trained": dt.date.today().isoformat(),
        "sources": SOURCES,
        "train_texts": len(train),
        "heldout_auprc": {
            "all": auprc("held-out, all sources"),
            "public": auprc("held-out, public sources"),
            "xstest": auprc("xstest held-out half"),
            "strongreject": auprc("strongreject + held-out public benign"),
            "everyday": auprc("everyday, all (frame or task unseen)"),
        },
        "c": args.c,
        "threshold": args.threshold,
        "frame_words": sorted(FRAME_WORDS),
    }
    out = ROOT / "src" / "saferollout" / "safety" / "data" / "prompt_risk.npz"
    model.save(out)
    print(f"\nwrote {out} ({out.stat().st_size // 1024} KiB, {len(model.vocab_list)} features)")


if __name__ == "__main__":
    main()
