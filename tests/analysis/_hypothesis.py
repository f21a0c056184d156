"""Hypothesis settings for the analysis property tests.

Applied per test rather than as a global profile, so that loading these tests does
not change other packages' hypothesis settings. Some properties call root finders,
so no per-example deadline; derandomised so CI sees the same examples every run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
