"""schemathesis against a real gateway, from the gateway's own OpenAPI description.

Valid and invalid requests (schemathesis's positive and negative generation,
plus its coverage phase: boundaries, missing fields, wrong types, unknown
methods) to every route, once with the admin token and once without. Nothing
may answer 5xx, and every 4xx must be OpenAI's error shape.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from saferollout.config import ClientsConfig
from saferollout.gateway._openapi import openapi_spec

from ..gateway.conftest import make_config
from .conftest import ADMIN_TOKEN, CLIENT_KEY, STATS, FuzzTarget

# The description depends on the version names and the server address only, so
# it can be built at import (schemathesis parametrizes at collection time); a
# test below checks that the running gateway serves the same document.
SPEC_CONFIG = make_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")

SETTINGS = {
    "generation": {
        "mode": "all",  # positive and negative (invalid) data
        # Small and fixed for CI; SAFEROLLOUT_FUZZ_EXAMPLES=500 SAFEROLLOUT_FUZZ_RANDOM=1
        # digs deeper (and elsewhere) by hand.
        "max-examples": int(os.environ.get("SAFEROLLOUT_FUZZ_EXAMPLES", "25")),
        "deterministic": not os.environ.get("SAFEROLLOUT_FUZZ_RANDOM"),
        "database": "none",
        # Unknown query parameters and headers are ignored, as HTTP APIs do;
        # they are not invalid input.
        "allow-extra-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
}
schema = schemathesis.openapi.from_dict(
    openapi_spec(SPEC_CONFIG), config=schemathesis.Config.from_dict(SETTINGS)
)
# With `clients:` the /v1 routes need a client key; only they change.
CLIENTS_SPEC_CONFIG = SPEC_CONFIG.model_copy(
    update={"clients": ClientsConfig.model_validate({"keys": {"fuzzer": {"key_env": "K"}}})}
)
clients_schema = schemathesis.openapi.from_dict(
    openapi_spec(CLIENTS_SPEC_CONFIG), config=schemathesis.Config.from_dict(SETTINGS)
).include(path_regex="^/v1/")


def openai_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is `{"error": {"message": str, "type": str, "code": str|null}}`."""
    if not 400 <= response.status_code < 500:
        return None
    if response.status_code == 412 and case.path == "/admin/flagger/check":
        return None  # a closed gate answers the analysis document, as Flagger expects
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], err
    assert isinstance(err.get("type"), str) and err["type"], err
    assert "code" in err and (err["code"] is None or isinstance(err["code"], str)), err
    assert ADMIN_TOKEN not in response.text and CLIENT_KEY not in response.text
    return None


CHECKS = [
    not_a_server_error,
    openai_error_shape,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _run(case: schemathesis.Case, target: FuzzTarget, headers: dict[str, str], label: str) -> None:
    response = case.call(base_url=target.url, headers=headers, timeout=30)
    status = response.status_code
    STATS[f"api:{label}:{status // 100}xx"] += 1
    STATS[f"status:{label}:{status}"] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


@schema.parametrize()
def test_fuzz_with_admin_token(case: schemathesis.Case, fuzz_target: FuzzTarget) -> None:
    _run(case, fuzz_target, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, "token")


@schema.parametrize()
def test_fuzz_without_token(case: schemathesis.Case, fuzz_target: FuzzTarget) -> None:
    _run(case, fuzz_target, {}, "no-token")


@clients_schema.parametrize()
def test_fuzz_with_client_key(case: schemathesis.Case, clients_target: FuzzTarget) -> None:
    _run(case, clients_target, {"Authorization": f"Bearer {CLIENT_KEY}"}, "client-key")


@clients_schema.parametrize()
def test_fuzz_clients_without_key(case: schemathesis.Case, clients_target: FuzzTarget) -> None:
    _run(case, clients_target, {}, "client-no-key")


def test_served_description_is_the_one_fuzzed(fuzz_target: FuzzTarget) -> None:
    served = httpx.get(fuzz_target.url + "/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_spec(fuzz_target.config)
    assert served.json()["paths"].keys() == openapi_spec(SPEC_CONFIG)["paths"].keys()


def test_client_keys_are_described_when_configured(clients_target: FuzzTarget) -> None:
    spec = httpx.get(clients_target.url + "/openapi.json").json()
    assert spec == openapi_spec(clients_target.config)
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert chat["security"] == [{"clientKey": []}, {"adminToken": []}]
    assert {"401", "429"} <= chat["responses"].keys()
    assert "clientKey" not in openapi_spec(SPEC_CONFIG)["components"]["securitySchemes"]
    assert CLIENT_KEY not in httpx.get(clients_target.url + "/openapi.json").text
