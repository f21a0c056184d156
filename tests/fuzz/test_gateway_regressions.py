"""What the API fuzzer found, kept as plain tests against the same real gateway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import ADMIN_TOKEN, FuzzTarget

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert {"type", "code", "param"} <= error.keys()
    return error


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("after=18446744073709551616", "after"),  # was a 500: SQLite's integer overflowed
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),  # SQLite read it as "no limit"; PostgreSQL fails
    ],
)
def test_event_paging_out_of_range_is_a_400(
    fuzz_target: FuzzTarget, query: str, param: str
) -> None:
    r = httpx.get(f"{fuzz_target.url}/admin/events?{query}", headers=AUTH)
    assert _error(r, 400)["param"] == param
    ok = httpx.get(f"{fuzz_target.url}/admin/events?after=0&limit=5000", headers=AUTH)
    assert ok.status_code == 200  # a large limit is still capped, not refused


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"[1, 2]", None),
        (b'{"metadata": "token"}', "metadata"),
        (b'{"metadata": {"token": 12345}}', "metadata.token"),
    ],
)
def test_flagger_payload_of_the_wrong_shape_is_a_400(
    fuzz_target: FuzzTarget, body: bytes, param: str | None
) -> None:
    # Before: silently read as "no metadata", then 401 or, with the header, 200.
    r = httpx.post(fuzz_target.url + "/admin/flagger/check", content=body, headers=AUTH)
    assert _error(r, 400)["param"] == param


def test_what_aiohttp_answers_itself_is_openai_shaped(fuzz_target: FuzzTarget) -> None:
    url = fuzz_target.url
    # Unknown path and wrong method: were text/plain "404: Not Found" / "405: ...".
    assert _error(httpx.get(url + "/v1/nothing-here"), 404)["code"] == "not_found"
    r = httpx.post(url + "/v1/models", json={})
    assert _error(r, 405)["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"]
    # A body over server.max_body_bytes outside the proxy path (it has its own check).
    big = b'{"reason": "' + b"x" * 70_000 + b'"}'
    r = httpx.post(url + "/admin/rollout/pause", content=big, headers=AUTH)
    assert _error(r, 413)["code"] == "request_too_large"
    big = b'{"request_id": "' + b"x" * 70_000 + b'"}'
    assert _error(httpx.post(url + "/v1/feedback", content=big), 413)
    # The proxy routes keep their own answer and headers.
    r = httpx.post(url + "/v1/chat/completions", content=b"x" * 70_000)
    assert _error(r, 413)["code"] == "request_too_large"
    assert r.headers["X-Rollout-Version"] == "none"


def test_a_non_utf8_authorization_header_is_refused_not_a_500(fuzz_target: FuzzTarget) -> None:
    """Was a UnicodeEncodeError in the token compare (found by the client-keys work)."""
    bad = {"Authorization": b"Bearer \xff\xfe-not-utf8"}
    r = httpx.get(fuzz_target.url + "/admin/rollout", headers=bad)
    assert _error(r, 401)
    forced = httpx.post(
        fuzz_target.url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={**bad, "X-Rollout-Version": "stable"},
    )
    assert _error(forced, 403)["code"] == "override_not_allowed"
