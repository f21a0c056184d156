"""Throughput of the default scorer set on realistic response lengths, one core, batched.

    .venv/bin/python bench/scorers.py                  # 200-word responses, batch 256
    .venv/bin/python bench/scorers.py --words 600 --n 2000 --json out.json

Responses are assembled deterministically from a bank of answer-like
sentences (prose, steps, numbers, code, a few refusals, a few with PII), so
every regex and model path is exercised the way live traffic would. The
target (issue 3) is >= 5,000 responses/s for the default set on 200 words.
Also times the guardrails per call (the request path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from saferollout.config import SafetyConfig
from saferollout.safety import Guardrails, Pipeline, measure_throughput
from saferollout.safety._anomaly import AnomalyDetector

SENTENCES = (
    "Start by breaking the problem into smaller steps so each one is easy to verify.",
    "The function returns a list of tuples, one for each matching record in the table.",
    "In 2019 the company reported revenue of 4.2 billion dollars, up 12% from the year before.",
    "You can install the package with pip install requests and then import it in your script.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "1. Preheat the oven to 180 degrees. 2. Mix the flour and sugar. 3. Bake for 25 minutes.",
    "If the error persists, check the log file at /var/log/app/error.log for details.",
    "The Treaty of Westphalia in 1648 ended the Thirty Years' War in the Holy Roman Empire.",
    "```python\nfor item in items:\n    print(item.name, item.price)\n```",
    "A good night's sleep improves memory, mood and concentration for most adults.",
    "Remember to back up your data before upgrading the operating system.",
    "The mitochondria is often called the powerhouse of the cell because it produces ATP.",
    "Interest compounds monthly, so the effective annual rate is slightly higher than 5%.",
    "The French Revolution began in 1789 and reshaped politics across Europe.",
    "Many historians argue that the printing press accelerated the spread of literacy.",
    "Use a binary search when the list is sorted; it runs in logarithmic time.",
    "Water boils at 100 degrees Celsius at sea level, and at lower temperatures at altitude.",
    "Set the environment variable API_TIMEOUT=30 to raise the client timeout.",
    "Here is a short summary of the main arguments on both sides of the debate.",
    "Step 3: connect the red wire to the positive terminal and tighten the screw.",
    "Exercise, a balanced diet and regular checkups reduce the risk of heart disease.",
    "For a beginner, a three-day full-body routine is easier to stick to than a split.",
    "Spanish and Italian share many words, so learning one makes the other easier.",
    "Keep the soil moist but not soggy, and give the plant at least six hours of sun.",
    "The main difference is that a tuple is immutable while a list can be changed.",
    "Most lenders look at your debt-to-income ratio as well as your credit history.",
    "Try rephrasing the opening sentence so the reader knows the point right away.",
    "The novel follows two sisters who reunite after twenty years apart.",
    "You can schedule the job with cron, for example to run every night at 2 a.m.",
    "Rome's main sights are close together, so walking is often faster than the metro.",
    "A null pointer usually means the object was never initialized before use.",
    "The recipe works with almond milk too, although the texture is a little thinner.",
    "Ask open questions in the interview and let the candidate do most of the talking.",
    "If you are unsure, test the change on a copy of the database first.",
    "The speed of light in a vacuum is about 300,000 kilometres per second.",
    "Good error messages say what went wrong, where, and what to do about it.",
    "Write the tests first so you know when the refactoring is finished.",
    "Volcanic soil is very fertile, which is why farms often surround old volcanoes.",
    "To kill a stuck process on Linux, find its PID with ps aux and run kill -9 PID.",
    "However, I can share some general safety information if that would be useful.",
)
# Sentences that make the PII and refusal detectors work (contact details, an address,
# a refusal); typical answers contain few of them, the "heavy" mix many.
SPICY = (
    "You can reach our support team at help@acme-support.com or call (415) 555-2671.",
    "The server listens on 10.0.0.12 port 8080 inside the private network.",
    "I'm sorry, but I can't help with that request.",
    "Send the signed form to Jane Doe at 42 Elm Street, or email jane.doe@example.org.",
)
MIXES = {"typical": 0.03, "heavy": 0.3}


def make_responses(n: int, words: int, seed: int = 7, spicy_share: float = 0.03) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        count = 0
        while count < words:
            bank = SPICY if rng.random() < spicy_share else SENTENCES
            s = rng.choice(bank)
            parts.append(s)
            count += len(s.split())
        out.append(" ".join(parts))
    return out


def _pipeline_rate(pipeline: Pipeline, rows: list[dict[str, object]], batch_size: int) -> float:
    """Rows scored per second of this process' CPU time, after a warm-up batch."""
    pipeline.score_rows(rows[:8])
    t0 = time.process_time()
    for i in range(0, len(rows), batch_size):
        pipeline.score_rows(rows[i : i + batch_size])
    return len(rows) / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="responses to score")
    parser.add_argument("--words", type=int, default=200, help="words per response")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="typical",
        help="share of PII/refusal sentences: typical 3%%, heavy 30%%",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()

    texts = make_responses(args.n, args.words, spicy_share=MIXES[args.mix])
    config = SafetyConfig()
    per_scorer = measure_throughput(
        config.scorers, texts, batch_size=args.batch_size, config=config
    )

    # The whole pipeline (all scorers + derived flags) on store-shaped rows.
    pipeline = Pipeline.from_config(config)
    rows = [
        {
            "request_id": f"r{i}",
            "request_messages": [{"role": "user", "content": "How do I fix this?"}],
            "response_text": t,
            "status_code": 200,
            "error_kind": None,
            "endpoint": "chat.completions",
            "extra": {},
        }
        for i, t in enumerate(texts)
    ]
    pipeline_rate = _pipeline_rate(pipeline, rows, args.batch_size)
    # As the scoring worker runs it: plus the anomaly stage, baseline fitted on the
    # same kind of answers (the worker fits it from stable's answers in the store).
    detector = AnomalyDetector(config)
    detector.fit(texts[: config.anomaly.baseline_size], version="stable")
    with_anomaly = Pipeline(pipeline.scorers, config, anomaly=detector)
    anomaly_rate = _pipeline_rate(with_anomaly, rows, args.batch_size)

    guard_cfg = SafetyConfig.model_validate(
        {"guardrails": {"input": {"mode": "block"}, "output": {"mode": "block", "pii_leaks": True}}}
    )
    guard = Guardrails.from_config(guard_cfg)
    messages = [{"role": "user", "content": "How do I kill a stuck Python process on Linux?"}]
    guard.check_input(messages)
    guard.check_output(texts[0], messages)
    reps = 2000
    t0 = time.process_time()
    for _ in range(reps):
        guard.check_input(messages)
    input_us = (time.process_time() - t0) / reps * 1e6
    t0 = time.process_time()
    for i in range(reps):
        guard.check_output(texts[i % len(texts)], messages)
    output_us = (time.process_time() - t0) / reps * 1e6

    # How fast this core runs plain Python right now (a loaded or throttled machine reads
    # higher); lets figures from different machines be compared.
    t0 = time.process_time()
    sum(range(10_000_000))
    calibration_s = time.process_time() - t0

    result = {
        "calibration_sum_range_1e7_s": round(calibration_s, 3),
        "responses": args.n,
        "words_per_response": args.words,
        "mix": args.mix,
        "batch_size": args.batch_size,
        "responses_per_s": {k: round(v, 1) for k, v in per_scorer.items()},
        "pipeline_responses_per_s": round(pipeline_rate, 1),
        "pipeline_with_anomaly_responses_per_s": round(anomaly_rate, 1),
        "guardrail_input_us": round(input_us, 1),
        "guardrail_output_us": round(output_us, 1),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(
        f"{args.n} responses of ~{args.words} words ({args.mix} mix), "
        f"batch {args.batch_size}, one core (CPU time)"
    )
    for name, rate in per_scorer.items():
        print(f"  {name:12s} {rate:10,.0f} responses/s")
    print(f"  {'pipeline':12s} {pipeline_rate:10,.0f} responses/s (all scorers + flags)")
    print(f"  {'+ anomaly':12s} {anomaly_rate:10,.0f} responses/s (as the scoring worker runs)")
    print(f"  guardrail check_input  {input_us:7.1f} us/call")
    print(f"  guardrail check_output {output_us:7.1f} us/call ({args.words} words)")
    print(f"  calibration: sum(range(10**7)) took {calibration_s:.2f} s of CPU on this core")
    target = 5000
    verdict = "meets" if anomaly_rate >= target else "MISSES"
    print(f"  {verdict} the {target:,}/s target")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
