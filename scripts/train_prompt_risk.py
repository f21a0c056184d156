"""Train the `prompt_risk` scorer and write src/saferollout/safety/data/prompt_risk.npz.

prompt_risk answers "is the request itself asking for harmful help?", which is
what tells an appropriate refusal (harmful prompt refused) from an over-refusal
(benign prompt refused) and a harmful compliance (harmful prompt answered).
Development only (scikit-learn); inference is numpy (`saferollout.safety._linear`).

Positives: HarmBench/AdvBench behaviours, JailbreakBench goals and attack
prompts, XSTest unsafe prompts (train half). Negatives: XSTest safe prompts
(train half: "how do I kill a Python process"), templated benign requests, BBQ,
Presidio customer-service sentences, Davidson "neither" tweets. StrongREJECT is
held out entirely, XSTest half held out; see build_safety_data.py.

    .venv/bin/python scripts/train_prompt_risk.py [--no-save]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_safety_data import prompt_risk_examples
from train_harmful import ROOT, SOURCES, fit, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--c", type=float, default=4.0)
    parser.add_argument("--max-features", type=int, default=30_000)
    args = parser.parse_args()

    examples = prompt_risk_examples()
    train = [e for e in examples if e.split == "train"]
    test = [e for e in examples if e.split == "test"]
    print(f"train {len(train)} texts, test {len(test)} texts")
    model = fit(train, ("harmful",), c=args.c, max_features=args.max_features)
    figures = report(model, test, "held-out test split (all sources)")
    xs = report(model, [e for e in test if e.source == "xstest"], "held-out: xstest half")
    sr = [e for e in test if e.source == "strongreject" or e.labels["harmful"] == 0]
    sr_fig = report(model, sr, "held-out: strongreject (source hold-out) + held-out benign")
    model.meta = {
        "name": "prompt_risk",
        "trained": dt.date.today().isoformat(),
        "sources": SOURCES,
        "train_texts": len(train),
        "heldout_auprc": {
            "all": round(figures.get("harmful", 0.0), 4),
            "xstest": round(xs.get("harmful", 0.0), 4),
            "strongreject": round(sr_fig.get("harmful", 0.0), 4),
        },
        "c": args.c,
    }
    if not args.no_save:
        out = ROOT / "src" / "saferollout" / "safety" / "data" / "prompt_risk.npz"
        model.save(out)
        print(f"\nwrote {out} ({out.stat().st_size // 1024} KiB, {len(model.vocab_list)} features)")


if __name__ == "__main__":
    main()
