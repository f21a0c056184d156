"""Detection benchmark: how fast each rollback rule catches a bad canary, and how
often it rolls back a good one.

Monte Carlo, seeded, vectorised across runs with numpy. Requests arrive in looks of
100; each goes to the canary with probability ``share``. The horizon is 10^5
requests (1,000 looks).

Scenarios
  aa     both versions at a 1% violation rate: any rollback is a false rollback.
  shift  the canary at 2%, stable at 1%: canary requests until rollback.

Methods (one-sided: only an increase of the canary's rate rolls back)
  saferollout         exact event-split e-value (analysis.rate_ratio_log_e) at
                      alpha = 0.05, checked at every look
  normal-mixture      normal-mixture confidence sequence on the difference
                      (Waudby-Smith et al. 2024), unpooled variance, rho = 0.07
  naive-z             pooled two-proportion z-test at alpha = 0.05, re-checked at
                      every look
  flagger-threshold   canary rate over each interval of 1,000 requests above 1.5%
                      is a failed check; rollback at 5 failed checks (Flagger's
                      analysis.threshold)
  kayenta-mw          Kayenta-style: per analysis interval of 10,000 requests, the
                      10 per-1,000-request rates of canary vs stable in a
                      Mann-Whitney U test (two-sided 95%, "High" = rollback)

After the table, the post-rollout CUSUM at a 1% base rate designed for ARL0 >= 10^5:
exact Markov-chain ARLs and a Monte Carlo check.

Usage: python bench/detection.py [--runs 4000] [--seed 20240501] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special
from scipy import stats as sps

from saferollout.analysis import (
    DEFAULT_LOG_ODDS_SCALE,
    DEFAULT_RATE_RHO,
    BernoulliCusum,
    normal_mixture_log_e,
    rate_ratio_log_e,
)

ALPHA = 0.05
LOOK = 100
LOOKS = 1000  # horizon 10^5 requests
BASE = 0.01
BAD = 0.02
SHARES = (0.1, 0.5)
FLAGGER_INTERVAL = 10  # looks (1,000 requests)
FLAGGER_LIMIT = 0.015
FLAGGER_FAILED_CHECKS = 5
KAYENTA_INTERVAL = 100  # looks (10,000 requests)
KAYENTA_BUCKET = 10  # looks per sample point (1,000 requests)
CHUNK = 1000  # runs simulated at once (memory)

Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Sample:
    """Per-look increments (runs x looks) of one scenario."""

    nc: np.ndarray
    xc: np.ndarray
    xs: np.ndarray

    def cumulative(self) -> Counts:
        nc = self.nc.cumsum(axis=1, dtype=float)
        ns = LOOK * np.arange(1, LOOKS + 1, dtype=float) - nc
        return nc, self.xc.cumsum(axis=1, dtype=float), ns, self.xs.cumsum(axis=1, dtype=float)


def simulate(rng: np.random.Generator, runs: int, share: float, rate_c: float) -> Sample:
    nc = rng.binomial(LOOK, share, size=(runs, LOOKS))
    return Sample(nc=nc, xc=rng.binomial(nc, rate_c), xs=rng.binomial(LOOK - nc, BASE))


# ------------------------------------------------------------------ rules
# Each rule maps a Sample to a (runs x looks) bool array: "roll back at this look".

_THRESHOLD = math.log(1.0 / ALPHA)


def _prior_mass_floor() -> float:
    """Smallest prior mass above the null over the shares we meet (the Beta prior's
    mass above its own mean), used to screen looks cheaply but exactly."""
    theta = np.linspace(1e-4, 1 - 1e-4, 2001)
    c = 1.0 / (DEFAULT_LOG_ODDS_SCALE**2 * theta * (1 - theta))
    return float(special.betaincc(c * theta, c * (1 - theta), theta).min())


def rule_saferollout(sample: Sample) -> np.ndarray:
    nc, xc, ns, xs = sample.cumulative()
    # The one-sided e-value is at most the two-sided one divided by the prior mass
    # above the null; skip the (slow) incomplete beta wherever that bound is short.
    two_sided = rate_ratio_log_e(nc, xc, ns, xs, alternative="two-sided")
    candidates = (two_sided - math.log(_prior_mass_floor()) >= _THRESHOLD) & (xc / nc > xs / ns)
    out = np.zeros(nc.shape, dtype=bool)
    idx = np.nonzero(candidates)
    out[idx] = rate_ratio_log_e(nc[idx], xc[idx], ns[idx], xs[idx]) >= _THRESHOLD
    return out


def rule_normal_mixture(sample: Sample) -> np.ndarray:
    nc, xc, ns, xs = sample.cumulative()
    pc, ps = (xc + 1) / (nc + 2), (xs + 1) / (ns + 2)
    se = np.sqrt(pc * (1 - pc) / nc + ps * (1 - ps) / ns)
    z = (xc / nc - xs / ns) / se
    t = nc * ns / (nc + ns)
    return normal_mixture_log_e(z, t, DEFAULT_RATE_RHO, "greater") >= _THRESHOLD


def rule_naive_z(sample: Sample) -> np.ndarray:
    nc, xc, ns, xs = sample.cumulative()
    pooled = (xc + xs) / (nc + ns)
    var = pooled * (1 - pooled) * (1 / nc + 1 / ns)
    diff = xc / nc - xs / ns
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, diff / np.sqrt(var), 0.0)
    return z >= sps.norm.ppf(1 - ALPHA)


def _intervals(values: np.ndarray, looks: int) -> np.ndarray:
    runs = values.shape[0]
    return values.reshape(runs, LOOKS // looks, looks).sum(axis=2)


def rule_flagger(sample: Sample) -> np.ndarray:
    n = _intervals(sample.nc, FLAGGER_INTERVAL)
    x = _intervals(sample.xc, FLAGGER_INTERVAL)
    failed = x > FLAGGER_LIMIT * n  # an empty interval is no failure
    rollback = failed.cumsum(axis=1) >= FLAGGER_FAILED_CHECKS
    out = np.zeros(sample.nc.shape, dtype=bool)
    out[:, FLAGGER_INTERVAL - 1 :: FLAGGER_INTERVAL] = rollback
    return out


def rule_kayenta(sample: Sample) -> np.ndarray:
    runs = sample.nc.shape[0]
    nc = _intervals(sample.nc, KAYENTA_BUCKET).astype(float)
    ns = LOOK * KAYENTA_BUCKET - nc
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = np.where(nc > 0, _intervals(sample.xc, KAYENTA_BUCKET) / nc, 0.0)
        rs = _intervals(sample.xs, KAYENTA_BUCKET) / ns
    per = KAYENTA_INTERVAL // KAYENTA_BUCKET
    rc = rc.reshape(runs, -1, per)
    rs = rs.reshape(runs, -1, per)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = sps.mannwhitneyu(rc, rs, axis=-1, alternative="two-sided", method="asymptotic")
    p = np.nan_to_num(res.pvalue, nan=1.0)
    high = (p <= ALPHA) & (rc.mean(axis=-1) > rs.mean(axis=-1))
    rollback = np.cumsum(high, axis=1) > 0
    out = np.zeros(sample.nc.shape, dtype=bool)
    out[:, KAYENTA_INTERVAL - 1 :: KAYENTA_INTERVAL] = rollback
    return out


RULES: dict[str, Callable[[Sample], np.ndarray]] = {
    "saferollout": rule_saferollout,
    "normal-mixture": rule_normal_mixture,
    "naive-z": rule_naive_z,
    "flagger-threshold": rule_flagger,
    "kayenta-mw": rule_kayenta,
}


def first_rollback(rollback: np.ndarray, sample: Sample) -> np.ndarray:
    """Canary requests at the first rollback of each run (inf if none)."""
    hit = rollback.any(axis=1)
    first = rollback.argmax(axis=1)
    canary = sample.nc.cumsum(axis=1)[np.arange(len(first)), first].astype(float)
    return np.where(hit, canary, np.inf)


# ------------------------------------------------------------------ CUSUM


def cusum_run_lengths(
    chart: BernoulliCusum, p: float, runs: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-request CUSUM run lengths, simulated event by event: between events the
    statistic only falls, so an alarm can only happen at an event."""
    state = np.zeros(runs, dtype=np.int64)
    clock = np.zeros(runs, dtype=np.int64)
    active = np.arange(runs)
    out = np.zeros(runs, dtype=np.int64)
    while active.size:
        gap = rng.geometric(p, size=active.size)  # requests up to and incl. next event
        s = np.maximum(0, state[active] - (gap - 1)) + chart.step_up
        clock[active] += gap
        state[active] = s
        alarm = s >= chart.threshold
        out[active[alarm]] = clock[active[alarm]]
        active = active[~alarm]
    return out


# ------------------------------------------------------------------ main


def fmt(value: object) -> str:
    """Canary requests for the table; None (never within the horizon) as such."""
    if value is None:
        return "> horizon"
    assert isinstance(value, float)
    return f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000, help="Monte Carlo runs per cell")
    parser.add_argument("--cusum-runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--json", type=Path, help="also write the table as JSON rows")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    rows: list[dict[str, object]] = []
    detected: dict[tuple[str, float], float] = {}
    for scenario, rate_c in (("aa", BASE), ("shift", BAD)):
        for share in SHARES:
            rng = np.random.default_rng([args.seed, int(share * 100), int(rate_c * 1000)])
            results: dict[str, list[np.ndarray]] = {m: [] for m in RULES}
            for start in range(0, args.runs, CHUNK):
                sample = simulate(rng, min(CHUNK, args.runs - start), share, rate_c)
                for method, rule in RULES.items():
                    results[method].append(first_rollback(rule(sample), sample))
            for method in RULES:
                canary = np.concatenate(results[method])
                row: dict[str, object] = {
                    "method": method,
                    "scenario": scenario,
                    "share": share,
                    "false_rollback_rate": None,
                    "median": None,
                    "p95": None,
                }
                if scenario == "aa":
                    row["false_rollback_rate"] = float(np.isfinite(canary).mean())
                else:
                    for key, q in (("median", 50), ("p95", 95)):
                        v = float(np.percentile(canary, q, method="inverted_cdf"))
                        row[key] = v if math.isfinite(v) else None
                    detected[method, share] = float(np.isfinite(canary).mean())
                rows.append(row)

    print(
        f"detection benchmark: {args.runs} runs per cell, seed {args.seed}, "
        f"look every {LOOK} requests, horizon {LOOK * LOOKS:,} requests, alpha {ALPHA}"
    )
    print()
    header = (
        f"{'method':<18} {'share':>5} {'A/A false rollback':>19} "
        f"{'median':>10} {'p95':>10} {'detected':>9}"
    )
    print(header)
    print("-" * len(header))
    for method in RULES:
        for share in SHARES:
            cell = {r["scenario"]: r for r in rows if r["method"] == method and r["share"] == share}
            frr = float(cell["aa"]["false_rollback_rate"])  # type: ignore[arg-type]
            median, p95 = (cell["shift"][k] for k in ("median", "p95"))
            print(
                f"{method:<18} {share:>5.0%} {frr:>19.1%} {fmt(median):>10} "
                f"{fmt(p95):>10} {detected[method, share]:>9.1%}"
            )
    print(
        "\nmedian / p95: canary requests until rollback, 1% -> 2% (runs never rolled "
        "back within the horizon count as infinite)."
    )

    chart = BernoulliCusum.design(BASE, BAD, 1e5)
    rng = np.random.default_rng([args.seed, 7])
    arl0_mc = cusum_run_lengths(chart, BASE, args.cusum_runs, rng)
    arl1_mc = cusum_run_lengths(chart, BAD, args.cusum_runs, rng)
    print(
        f"\npost-rollout Bernoulli CUSUM, p0 = {BASE:.0%}, p1 = {BAD:.0%}: +{chart.step_up} per "
        f"event, -1 per non-event, alarm at {chart.threshold} (h = {chart.threshold_llr:.2f})"
    )
    half_width = 1.96 * arl0_mc.std() / math.sqrt(arl0_mc.size)
    print(
        f"  in-control ARL0 (false alarm run length): exact {chart.arl(BASE):,.0f}, "
        f"Monte Carlo {arl0_mc.mean():,.0f} +- {half_width:,.0f}"
    )
    print(
        f"  detection delay for a doubling (zero-state ARL1): exact {chart.arl(BAD):,.0f}, "
        f"Monte Carlo {arl1_mc.mean():,.0f} (median {np.median(arl1_mc):,.0f}, "
        f"p95 {np.percentile(arl1_mc, 95):,.0f})"
    )
    print(f"\n{time.perf_counter() - started:.0f} s")

    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
