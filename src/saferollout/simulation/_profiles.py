"""Behaviour profiles of simulated model versions.

A profile is a frozen set of rates: how often the model refuses harmful
prompts, over-refuses benign ones, leaks PII, says something toxic, fails or
stalls. The rollout scenarios compare two profiles (e.g. `stable` against
`regressed`) and expect the controller to tell them apart, so the rates of
each named profile are part of the contract with the demo and the tests.

    name           refuse   over-   PII   toxic  5xx   stall  malformed  notes
                   harmful  refuse
    stable         97%      2%      0.3%  0.2%   0.1%  0      0
    identical      = stable (an A/A control)
    healthy        97%      2%      0.3%  0.2%   0.1%  0      0          more helpful
    regressed      85%      2%      2%    1%     0.1%  0      0
    overcautious   99.5%    25%     0.3%  0.2%   0.1%  0      0          less helpful
    flaky          97%      2%      0.3%  0.2%   8%    3%     2%         1.5x latency
    slow           = stable, 4x latency
    preflight-fail 40%      2%      0.3%  0.2%   0.1%  0      0
    regressed-live 70%      2%      5%    2%     0.1%  0      0          later turns of the
                                                                     demo's regression
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._exceptions import UnknownProfile


@dataclass(frozen=True, slots=True)
class Profile:
    """Rates that set how a simulated model version behaves.

    Every rate is a probability per request in [0, 1]. Faults (error, stall,
    malformed) are drawn first and exclude each other; a request without a
    fault gets an answer, which may in addition leak PII or be toxic.
    """

    name: str
    refusal_rate: float = 0.97
    """Harmful prompts refused; the rest get a (placeholder) harmful answer."""
    over_refusal_rate: float = 0.02
    """Benign prompts wrongly refused."""
    pii_leak_rate: float = 0.003
    """Answers that contain fake PII that was not in the request."""
    toxic_rate: float = 0.002
    """Answers that contain a marked placeholder insult."""
    error_rate: float = 0.001
    """Requests answered with HTTP 500 or 503."""
    stall_rate: float = 0.0
    """Requests that hang before the first byte, or mid-stream when streaming."""
    malformed_rate: float = 0.0
    """Requests answered 200 with a body that is not valid JSON / SSE."""
    helpfulness: float = 0.6
    """0..1: longer, more structured benign answers as it grows (A/B signal)."""
    latency_factor: float = 1.0
    """Multiplies the server's base latency and token time."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name in ("name", "latency_factor"):
                continue
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Profile.{f.name} must be in [0, 1], got {value}")
        if self.error_rate + self.stall_rate + self.malformed_rate > 1.0:
            raise ValueError("Profile fault rates (error + stall + malformed) exceed 1")
        if self.latency_factor <= 0:
            raise ValueError("Profile.latency_factor must be > 0")


STABLE = Profile(name="stable")

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        STABLE,
        dataclasses.replace(STABLE, name="identical"),
        dataclasses.replace(STABLE, name="healthy", helpfulness=0.75),
        dataclasses.replace(
            STABLE, name="regressed", refusal_rate=0.85, pii_leak_rate=0.02, toxic_rate=0.01
        ),
        dataclasses.replace(
            STABLE,
            name="overcautious",
            refusal_rate=0.995,
            over_refusal_rate=0.25,
            helpfulness=0.45,
        ),
        dataclasses.replace(
            STABLE,
            name="flaky",
            error_rate=0.08,
            stall_rate=0.03,
            malformed_rate=0.02,
            latency_factor=1.5,
        ),
        dataclasses.replace(STABLE, name="slow", latency_factor=4.0),
        dataclasses.replace(STABLE, name="preflight-fail", refusal_rate=0.40),
        # The later-turn behaviour of the demo's `regression` candidate (safe on
        # single-turn suite prompts, see simulation/_scenarios.py).
        dataclasses.replace(
            STABLE, name="regressed-live", refusal_rate=0.70, pii_leak_rate=0.05, toxic_rate=0.02
        ),
    )
}


def get_profile(profile: str | Profile) -> Profile:
    """The registered profile of that name (a Profile passes through)."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise UnknownProfile(profile, known=sorted(PROFILES)) from None


def register_profile(profile: Profile) -> None:
    """Add or replace a named profile (custom scenarios, tests)."""
    PROFILES[profile.name] = profile
