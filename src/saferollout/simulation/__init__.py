"""Simulated OpenAI-compatible model servers and a traffic generator.

Used by `saferollout demo`, the tests and the benchmarks: real HTTP servers on
loopback whose safety behaviour a named profile sets (`stable`, `regressed`,
...), and a generator of multi-turn chat traffic from many simulated users.
(`simulation.judge` is a separate module and not re-exported here.)
"""

from __future__ import annotations

from ._backend import BackendSettings, SimBackend, pseudo_embedding
from ._decisions import Behaviour, Decision, Fault, decide, request_rng
from ._exceptions import BackendStartError, SimulationError, UnknownProfile
from ._pii import FakePII, fake_pii, iban_valid, luhn_valid, ssn_valid
from ._profiles import PROFILES, Profile, get_profile, register_profile
from ._prompts import Label, PromptEntry, PromptMix, heuristic_label, load_prompt_mix
from ._responses import HARMFUL_MARKER, TOXIC_MARKER, compose_answer, tokenize
from ._runner import (
    BackendHandle,
    BackendProcess,
    BackendServer,
    run_backend,
    serve_backend,
    start_backend,
    start_backend_process,
)
from ._scenarios import SCENARIOS, Scenario, scenario_yaml, start_version_backend
from ._traffic import (
    RequestOutcome,
    SessionPlan,
    TrafficConfig,
    TrafficResult,
    generate_traffic,
    plan_sessions,
    run_traffic,
)

__all__ = [
    "HARMFUL_MARKER",
    "PROFILES",
    "SCENARIOS",
    "TOXIC_MARKER",
    "BackendHandle",
    "BackendProcess",
    "BackendServer",
    "BackendSettings",
    "BackendStartError",
    "Behaviour",
    "Decision",
    "FakePII",
    "Fault",
    "Label",
    "Profile",
    "PromptEntry",
    "PromptMix",
    "RequestOutcome",
    "Scenario",
    "SessionPlan",
    "SimBackend",
    "SimulationError",
    "TrafficConfig",
    "TrafficResult",
    "UnknownProfile",
    "compose_answer",
    "decide",
    "fake_pii",
    "generate_traffic",
    "get_profile",
    "heuristic_label",
    "iban_valid",
    "load_prompt_mix",
    "luhn_valid",
    "plan_sessions",
    "pseudo_embedding",
    "register_profile",
    "request_rng",
    "run_backend",
    "run_traffic",
    "scenario_yaml",
    "serve_backend",
    "ssn_valid",
    "start_backend",
    "start_backend_process",
    "start_version_backend",
    "tokenize",
]
