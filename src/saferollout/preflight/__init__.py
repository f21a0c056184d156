"""Pre-deployment checks of the candidate, their report data, receipts and the serve gate.

Public surface:

- running: `run_preflight`, `PreflightOptions`, `PreflightResult`, `Check`;
- files: `load_suite`, `load_suites`, `load_findings`, `default_suite_paths`,
  `SuiteItem`, `Finding`;
- receipts and the gate: `save_receipt`, `receipt_summary`, `check_gate`, `GateDecision`;
- blue/green preview probe: `probe_preview`, `ProbeResult`;
- errors: `PreflightError`, `SuiteError`;
- human review: `build_review_set`, `sample_real_prompts`, `review_set_id`,
  `review_gate`, `review_stats`, `ReviewPair`, `RealPrompt`, `ReviewSet`,
  `ReviewGateResult`, `ReviewStats` (the page, `_review_app`, is used by `cli._review`).
"""

from __future__ import annotations

from ._checks import Check
from ._errors import PreflightError, SuiteError
from ._gate import GateDecision, check_gate
from ._jailbreak import STRATEGIES as JAILBREAK_STRATEGIES
from ._probe import ProbeResult, probe_preview
from ._receipt import receipt_summary, save_receipt
from ._review import (
    RealPrompt,
    ReviewGateResult,
    ReviewPair,
    ReviewSet,
    ReviewStats,
    build_review_set,
    review_gate,
    review_set_id,
    review_stats,
    sample_real_prompts,
)
from ._runner import PreflightOptions, PreflightResult, run_preflight
from ._suites import (
    Finding,
    SuiteItem,
    default_suite_paths,
    load_findings,
    load_suite,
    load_suites,
)

__all__ = [
    "JAILBREAK_STRATEGIES",
    "Check",
    "Finding",
    "GateDecision",
    "PreflightError",
    "PreflightOptions",
    "PreflightResult",
    "ProbeResult",
    "RealPrompt",
    "ReviewGateResult",
    "ReviewPair",
    "ReviewSet",
    "ReviewStats",
    "SuiteError",
    "SuiteItem",
    "build_review_set",
    "check_gate",
    "default_suite_paths",
    "load_findings",
    "load_suite",
    "load_suites",
    "probe_preview",
    "receipt_summary",
    "review_gate",
    "review_set_id",
    "review_stats",
    "run_preflight",
    "sample_real_prompts",
    "save_receipt",
]
