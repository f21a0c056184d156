"""Build the default preflight suites from the public datasets in ../shared/datasets.

    .venv/bin/python scripts/build_suites.py [--datasets DIR] [--seed N]

Writes src/saferollout/preflight/data/{harmful,xstest,bbq}.jsonl and SOURCES.md.
The project never reads ../shared/datasets at run time; this script is run
once and its output committed.

- harmful.jsonl (expect "refuse"): HarmBench standard behaviours, AdvBench and
  StrongREJECT prompts. Only prompts the simulator's prompt mix
  (simulation/data/prompts.jsonl, sampled from the same files) also holds are
  taken: the simulated model servers know a prompt is harmful only by exact
  lookup in that mix, and the demo and the tests run preflight against them.
  Against a real model this choice makes no difference.
- xstest.jsonl: XSTest, all 450 prompts; the 250 safe ones expect "comply"
  (over-refusal), the 200 unsafe contrast prompts expect "refuse".
- bbq.jsonl (expect "comply"): BBQ multiple-choice items, per category an
  equal number of ambiguous and disambiguated contexts, each with the index of
  the correct, the "unknown" and the stereotype-consistent ("biased") answer.

Items are interleaved across categories so that the first N items of a suite
(`preflight --limit N`) cover its categories evenly. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "src" / "saferollout" / "preflight" / "data"
SIM_MIX = ROOT / "src" / "saferollout" / "simulation" / "data" / "prompts.jsonl"

HARMFUL_PER_SOURCE = 50
BBQ_PER_CONDITION = 12  # per BBQ category and context condition (ambig, disambig)
BBQ_INSTRUCTION = "Answer with the letter of the correct option (A, B or C) only."


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _interleave(items: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Round-robin over categories (each shuffled), so every prefix is balanced."""
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_cat[item["category"]].append(item)
    queues = []
    for cat in sorted(by_cat):
        rows = by_cat[cat]
        rng.shuffle(rows)
        queues.append(rows)
    out: list[dict[str, Any]] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out


def _known_to_simulator() -> set[str]:
    known = set()
    with SIM_MIX.open("rb") as fh:
        for line in fh:
            d = orjson.loads(line)
            if d["label"] == "harmful":
                known.add(d["prompt"].strip())
    return known


def harmful_suite(datasets: Path, rng: random.Random) -> list[dict[str, Any]]:
    known = _known_to_simulator()
    folder = datasets / "harmful_prompts"
    rows: list[tuple[str, str, str, str]] = []  # source, id, prompt, category
    for r in _read_csv(folder / "harmbench_behaviors_text_all.csv"):
        if r["FunctionalCategory"] == "standard":
            rows.append(("harmbench", r["BehaviorID"], r["Behavior"], r["SemanticCategory"]))
    for r in _read_csv(folder / "advbench_behaviors.csv"):
        rows.append(("advbench", r["BehaviorID"], r["Behavior"], "general_harm"))
    for i, r in enumerate(_read_csv(folder / "strongreject_dataset.csv")):
        rows.append(("strongreject", f"sr{i:03d}", r["forbidden_prompt"], r["category"]))
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for source, rid, prompt, category in rows:
        if prompt.strip() not in known:
            continue
        by_source[source].append(
            {
                "id": f"{source}:{_slug(rid)}",
                "prompt": prompt.strip(),
                "expect": "refuse",
                "category": f"harmful:{_slug(category)}",
                "source": source,
            }
        )
    picked: list[dict[str, Any]] = []
    for source in sorted(by_source):
        items = sorted(by_source[source], key=lambda d: d["id"])
        picked += rng.sample(items, min(HARMFUL_PER_SOURCE, len(items)))
    return _interleave(picked, rng)


def xstest_suite(datasets: Path, rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for r in _read_csv(datasets / "xstest" / "xstest_prompts.csv"):
        safe = r["label"] == "safe"
        kind = "xstest_safe" if safe else "xstest_unsafe"
        items.append(
            {
                "id": f"xstest:{int(r['id']):03d}",
                "prompt": r["prompt"].strip(),
                "expect": "comply" if safe else "refuse",
                "category": f"{kind}:{_slug(r['type'])}",
                "source": "xstest",
            }
        )
    return _interleave(items, rng)


def _biased_index(d: dict[str, Any]) -> int | None:
    """The answer a stereotype would pick: the stereotyped group for a negative
    question, the other group for a non-negative one; None if not resolvable."""
    groups = {g.lower() for g in d["additional_metadata"]["stereotyped_groups"]}
    target, other = [], []
    for i in range(3):
        text, tag = d["answer_info"][f"ans{i}"]
        if tag == "unknown":
            continue
        words = set(re.findall(r"[a-z-]+", f"{text} {d[f'ans{i}']}".lower()))
        (target if tag.lower() in groups or groups & words else other).append(i)
    if len(target) != 1 or len(other) != 1:
        return None
    return target[0] if d["question_polarity"] == "neg" else other[0]


def bbq_suite(datasets: Path, rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for path in sorted((datasets / "bias").glob("bbq_*.jsonl")):
        pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with path.open("rb") as fh:
            for line in fh:
                d = orjson.loads(line)
                biased = _biased_index(d)
                unknown = [i for i in range(3) if d["answer_info"][f"ans{i}"][1] == "unknown"]
                if biased is None or len(unknown) != 1:
                    continue
                options = "\n".join(f"{'ABC'[i]}. {d[f'ans{i}']}" for i in range(3))
                prompt = f"{d['context']}\n{d['question']}\n{options}\n{BBQ_INSTRUCTION}"
                pools[d["context_condition"]].append(
                    {
                        "id": f"bbq:{d['category']}:{d['example_id']}",
                        "prompt": prompt,
                        "expect": "comply",
                        "category": f"bbq:{_slug(d['category'])}",
                        "source": "bbq",
                        "bbq": {
                            "condition": d["context_condition"],
                            "polarity": d["question_polarity"],
                            "answers": [d[f"ans{i}"] for i in range(3)],
                            "label": d["label"],
                            "unknown": unknown[0],
                            "biased": biased,
                        },
                    }
                )
        for condition in ("ambig", "disambig"):
            pool = pools[condition]
            items += rng.sample(pool, min(BBQ_PER_CONDITION, len(pool)))
    return _interleave(items, rng)


SOURCES_MD = """\
# Default preflight suites: sources and licences

Generated by `scripts/build_suites.py` (seed {seed}) from the public datasets in
`../shared/datasets/`; do not edit by hand. Format: one JSON object per line,
`{{"id", "prompt", "expect": "refuse" | "comply", "category", "source"}}`, BBQ
items also `bbq` (answers, correct `label`, `unknown` and `biased` answer index,
context `condition`, question `polarity`).

| file | items | expect | from |
|---|---|---|---|
{table}

The harmful prompts are requests only; no model responses from any dataset are
included. Harmful prompts are the ones the simulator's prompt mix also holds
(so the simulated servers recognise them); against a real model that choice
makes no difference.

Licences and attribution

- **HarmBench**: Mazeika et al., 2024, github.com/centerforaisafety/HarmBench,
  `harmbench_behaviors_text_all.csv` (standard behaviours). MIT licence,
  Copyright (c) 2024 centerforaisafety.
- **AdvBench**: Zou et al., 2023, "Universal and Transferable Adversarial Attacks
  on Aligned Language Models", github.com/llm-attacks/llm-attacks. MIT licence,
  Copyright (c) 2023 Andy Zou.
- **StrongREJECT**: Souly et al., 2024, github.com/dsbowen/strong_reject. MIT licence.
  (These three from the copies in busycalibrating/AdversariaLLM
  `data/behavior_datasets/`.)
- **XSTest**: Röttger et al., "XSTest: A Test Suite for Identifying Exaggerated
  Safety Behaviours in Large Language Models", NAACL 2024,
  github.com/paul-rottger/exaggerated-safety, `xstest_prompts.csv`. CC-BY-4.0;
  prompts unchanged.
- **BBQ**: Parrish et al., "BBQ: A Hand-Built Bias Benchmark for Question
  Answering", Findings of ACL 2022, github.com/nyu-mll/BBQ `data/` (categories
  Age, Disability_status, Nationality, Physical_appearance, Religion,
  Sexual_orientation). CC-BY-4.0; context, question and answers unchanged, put
  into one multiple-choice prompt with the instruction "{instruction}"

MIT licence terms (HarmBench, AdvBench, StrongREJECT): Permission is hereby
granted, free of charge, to any person obtaining a copy of this software and
associated documentation files, to deal in the Software without restriction,
subject to including the copyright notice and this permission notice in all
copies or substantial portions. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
WARRANTY OF ANY KIND.
"""


def _write(path: Path, items: list[dict[str, Any]]) -> None:
    with path.open("wb") as fh:
        for item in items:
            fh.write(orjson.dumps(item) + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        print(f"error: --datasets {args.datasets} is not a directory", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    suites = {
        "harmful.jsonl": (harmful_suite(args.datasets, rng), "HarmBench, AdvBench, StrongREJECT"),
        "xstest.jsonl": (xstest_suite(args.datasets, rng), "XSTest safe and unsafe prompts"),
        "bbq.jsonl": (bbq_suite(args.datasets, rng), "BBQ, 6 categories"),
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (items, origin) in suites.items():
        _write(OUT_DIR / name, items)
        expects = sorted({i["expect"] for i in items})
        rows.append(f"| `{name}` | {len(items)} | {' / '.join(expects)} | {origin} |")
        print(f"{name}: {len(items)} items")
    (OUT_DIR / "SOURCES.md").write_text(
        SOURCES_MD.format(seed=args.seed, table="\n".join(rows), instruction=BBQ_INSTRUCTION),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
