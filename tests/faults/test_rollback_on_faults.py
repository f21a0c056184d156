"""A candidate that fails often is rolled back by the controller with the default
triggers (no `triggers:` in rollout.yaml), whether its failures reach clients or
are hidden by retries on stable; every request is recorded once throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.rollout import Phase
from saferollout.simulation import BackendHandle, TrafficConfig, TrafficResult, run_traffic
from saferollout.store import Store

from .conftest import wait_until
from .fault_upstream import FaultUpstream


@pytest.mark.parametrize(
    ("fault", "retry"),
    [
        # Retries hide the failures from clients; the retried requests still
        # count as the candidate's (and not as stable's: SRM stays quiet).
        pytest.param("reset_before", True, id="reset-hidden-by-retry"),
        pytest.param("5xx", False, id="5xx-seen-by-clients"),
    ],
)
def test_a_failing_candidate_is_rolled_back_by_the_default_error_rate_trigger(
    faulty: FaultUpstream, calm_stable: BackendHandle, tmp_path: Path, fault: str, retry: bool
) -> None:
    faulty.set(fault, share=0.3)
    cfg = parse_config(
        f"""
name: faults
versions:
  stable: {{url: "{calm_stable.base_url}", model: v1}}
  candidate: {{url: "{faulty.base_url}", model: v2, timeout_s: 2}}
stable: stable
candidate: candidate
retry_on_stable: {str(retry).lower()}
strategy: {{type: canary, interval_s: 0.2, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{tmp_path / "f.db"}"}}
server: {{flush_interval_s: 0.05}}
""",
        env={},
    )
    assert any(t.metric == "error_rate" and t.action == "rollback" for t in cfg.triggers)
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store)
    outcomes: list[TrafficResult] = []
    with runtime:
        gw = runtime.start_in_thread(scoring=False)
        ctl = runtime.controller
        for seed in range(10):
            outcomes.append(
                run_traffic(
                    TrafficConfig(
                        base_url=gw.url, requests=150, concurrency=16, seed=seed, stream_share=0.3
                    )
                )
            )
            if ctl.state.phase is Phase.ROLLED_BACK:
                break
        # What the judge counts: each request once, on the version it was assigned to.
        sent = sum(len(r.outcomes) for r in outcomes)
        assert wait_until(lambda: store.count_interactions() == sent, 10)
        assigned = store.aggregate_versions(since=0)
        assert sum(a.requests - a.shadow for a in assigned.values()) == sent
        assert wait_until(lambda: ctl.state.phase is Phase.ROLLED_BACK, 10), ctl.state
        assert "error_rate" in ctl.state.reason
        after = run_traffic(TrafficConfig(base_url=gw.url, requests=100, concurrency=8, seed=99))
        assert {o.version for o in after.outcomes} == {"stable"}
        outcomes.append(after)
    served = [o for result in outcomes for o in result.outcomes]
    # Every request got an answer; the candidate's failures reached clients only
    # where no retry on stable was allowed, and only as clean errors.
    assert all(o.status != 0 for o in served)
    failed = [o for o in served if o.status != 200]
    if retry:
        assert failed == []
    else:
        assert failed and {(o.status, o.version) for o in failed} == {(500, "candidate")}
    assert not any(o.error == "broken_stream" for o in served)
    # Exactly one record per request, through the rollback.
    assert store.count_interactions() == len(served)
    ids = {o.request_id for o in served}
    assert len(ids) == len(served)
    kinds = [e["kind"] for e in store.list_events("faults")]
    assert kinds[0] == "rollout_started" and "rolled_back" in kinds
    store.close()
