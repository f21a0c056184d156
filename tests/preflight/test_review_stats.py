"""Review statistics on known inputs: Krippendorff's alpha, win/tie/loss, harm rates."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score

from saferollout.preflight._review import (
    RateEstimate,
    krippendorff_alpha_nominal,
    latest_ratings,
    review_stats,
)


def test_alpha_matches_krippendorffs_published_nominal_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
    # 4 observers, 12 units, missing values; nominal alpha = 0.743.
    n = None
    rows = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[v for v in col if v is not None] for col in zip(*rows, strict=True)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_alpha_for_two_raters_agrees_with_cohens_kappa_via_scotts_pi() -> None:
    # Two raters with the same marginals: Cohen's kappa equals Scott's pi, and
    # alpha = 1 - (1 - pi) * (2N - 1) / (2N) (Krippendorff's small-sample correction).
    r1 = ["a", "a", "b", "b", "equal", "a", "b", "a", "equal", "b"]
    r2 = ["a", "b", "b", "a", "equal", "a", "b", "equal", "a", "b"]
    assert sorted(r1) == sorted(r2)
    kappa = cohen_kappa_score(r1, r2)
    n = len(r1)
    expected = 1 - (1 - kappa) * (2 * n - 1) / (2 * n)
    alpha = krippendorff_alpha_nominal(list(zip(r1, r2, strict=True)))
    assert alpha == pytest.approx(expected, abs=1e-12)
    assert 0 < alpha < 1


def test_alpha_is_one_on_full_agreement_and_undefined_without_variation() -> None:
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b", "b"], ["equal", "equal"]]) == 1.0
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None
    assert krippendorff_alpha_nominal([["a"], ["b"]]) is None  # nothing pairable


def test_rate_estimate_is_the_wilson_interval() -> None:
    est = RateEstimate.of(1, 4)
    z = sps.norm.ppf(0.975)
    p, n = 0.25, 4
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (est.lower, est.upper) == pytest.approx((centre - half, centre + half))
    assert est.lower == pytest.approx(0.04559, abs=1e-5)
    assert est.upper == pytest.approx(0.69936, abs=1e-5)
    assert RateEstimate.of(0, 0).rate is None


def _item(iid: str, candidate_is_a: bool, source: str = "suite") -> dict:
    a, b = ("cand", "stab") if candidate_is_a else ("stab", "cand")
    return {
        "item_id": iid,
        "source": source,
        "versions": {"a": a, "b": b},
        "candidate": "cand",
        "stable": "stab",
        "a": "x",
        "b": "y",
    }


def _rating(rid: int, iid: str, who: str, safer: str, better: str, ha=None, hb=None) -> dict:
    return {
        "id": rid,
        "item_id": iid,
        "reviewer": who,
        "safer": safer,
        "better": better,
        "harm_a": ha,
        "harm_b": hb,
        "comment": "",
    }


def test_stats_resolve_the_blinded_order_and_keep_the_latest_rating() -> None:
    items = [_item("i1", candidate_is_a=True), _item("i2", candidate_is_a=False, source="real")]
    ratings = [
        _rating(1, "i1", "x", "a", "b", hb="violence"),  # safer win, better loss, stable harm
        _rating(2, "i2", "x", "a", "equal", hb="crime"),  # safer loss, tie, candidate harm
        _rating(3, "i1", "y", "equal", "a"),  # safer tie, better win
        _rating(4, "i2", "y", "b", "a"),  # replaced by 5
        _rating(5, "i2", "y", "a", "b"),  # safer loss, better win
        _rating(6, "gone", "y", "a", "a"),  # not in the set: ignored
    ]
    assert len(latest_ratings(ratings)) == 5
    st = review_stats(items, ratings, "set1")
    assert (st.items, st.items_rated, st.ratings, st.reviewers) == (2, 2, 4, 2)
    cr = st.candidates["cand"]
    assert cr.stable == "stab"
    assert (cr.safer.win.count, cr.safer.tie.count, cr.safer.loss.count) == (1, 1, 2)
    assert cr.safer.win_or_tie.rate == 0.5
    assert (cr.better.win.count, cr.better.tie.count, cr.better.loss.count) == (2, 1, 1)
    assert (cr.candidate_harm.count, cr.candidate_harm.n) == (1, 4)
    assert cr.stable_harm.count == 1
    assert cr.harm_categories == {"crime": 1}
    assert cr.by_source["real"]["safer"].loss.count == 2
    assert cr.by_source["suite"]["better"].win.count == 1
    # safer: i1 [a, equal], i2 [a, a] -> coincidences a-eq 2, a-a 2; n_a=3, n_eq=1:
    # alpha = 1 - (4 - 1) * 2 / (2 * 3 * 1) = 0.
    assert st.agreement["safer"].alpha == pytest.approx(0.0)
    assert (st.agreement["safer"].items, st.agreement["safer"].ratings) == (2, 4)
    d = st.to_dict()
    assert d["candidates"]["cand"]["safer"]["win_or_tie"]["rate"] == 0.5
