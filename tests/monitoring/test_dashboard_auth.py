"""Dashboard sessions: signed with the admin token, expiring, never the token itself."""

from __future__ import annotations

from saferollout.monitoring._dashboard_auth import DashboardAuth


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_session_is_valid_until_it_expires() -> None:
    clock = Clock(1_000_000.0)
    auth = DashboardAuth("s3cret-token", ttl_s=3600, clock=clock)
    session = auth.new_session()
    assert "s3cret-token" not in session
    assert auth.session_valid(session)
    clock.t += 3599
    assert auth.session_valid(session)
    clock.t += 2
    assert not auth.session_valid(session)


def test_tampered_foreign_or_future_sessions_are_refused() -> None:
    clock = Clock(1_000_000.0)
    auth = DashboardAuth("s3cret-token", clock=clock)
    issued, _, signature = auth.new_session().partition(".")
    # A later issue time with the old signature: the signature covers the time.
    assert not auth.session_valid(f"{int(issued) + 100}.{signature}")
    assert not auth.session_valid(f"{issued}.{'0' * len(signature)}")
    assert not auth.session_valid("")
    assert not auth.session_valid("garbage")
    assert not auth.session_valid(f"-5.{signature}")
    # Signed with another token (or after the token changed): refused.
    other = DashboardAuth("another-token", clock=clock)
    assert not auth.session_valid(other.new_session())
    # Issued far in the future (beyond clock skew): refused.
    future = DashboardAuth("s3cret-token", clock=Clock(clock.t + 3600)).new_session()
    assert not auth.session_valid(future)


def test_without_a_token_no_session_and_no_token_match() -> None:
    auth = DashboardAuth(None)
    assert not auth.login_required
    assert not auth.token_matches("")
    assert not auth.session_valid("123.abc")
