"""`clients:` in rollout.yaml: optional API keys for the gateway's /v1 routes.

Absent, the gateway stays open (as before). Present, every /v1 request needs
`Authorization: Bearer <key>` of a named client. Like the other secrets, the
keys themselves never appear in the file or the validated model (whose
canonical JSON is hashed and may be shown): each client *names* the
environment variable that holds its key (`key_env`), read when the gateway
starts. The client's name is what records, metrics and logs may show.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The admin token is accepted as a client key and recorded under this name.
ADMIN_CLIENT = "admin"

ClientName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientRateLimit(_Model):
    """A token bucket per client: `burst` requests at once, refilled at
    `requests_per_minute` (per gateway process)."""

    requests_per_minute: float = Field(gt=0, description="Sustained rate")
    burst: int | None = Field(
        default=None,
        ge=1,
        description="Requests allowed at once after a quiet spell "
        "(default: a tenth of requests_per_minute, at least 1)",
    )

    @model_validator(mode="after")
    def _default_burst(self) -> ClientRateLimit:
        # Filled in here (not left None) so that spelling out the default does
        # not change the config hash.
        if self.burst is None:
            self.burst = max(1, math.ceil(self.requests_per_minute / 10))
        return self


class ClientKeyConfig(_Model):
    """One client of the gateway: its key's env var, what it may use, how fast."""

    key_env: str = Field(description="Environment variable holding this client's key")
    versions: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Versions this client may be answered by (default: all). Traffic the "
        "router sends elsewhere goes to stable; if stable is not listed either, it is refused",
    )
    rate_limit: ClientRateLimit | None = Field(default=None, description="Default: unlimited")

    @field_validator("key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v

    @field_validator("versions")
    @classmethod
    def _no_repeats(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("a version is listed twice")
        return v


class ClientsConfig(_Model):
    """Client API keys for /v1 (chat, completions, embeddings, models, feedback)."""

    keys: dict[ClientName, ClientKeyConfig] = Field(
        description="Client name -> its key's env var, allowed versions, rate limit"
    )

    @field_validator("keys")
    @classmethod
    def _check(cls, keys: dict[str, ClientKeyConfig]) -> dict[str, ClientKeyConfig]:
        if not keys:
            raise ValueError("name at least one client (remove `clients:` to leave /v1 open)")
        if ADMIN_CLIENT in keys:
            raise ValueError(f"{ADMIN_CLIENT!r} is reserved for the admin token")
        by_env: dict[str, str] = {}
        for name, client in keys.items():
            other = by_env.setdefault(client.key_env, name)
            if other != name:
                raise ValueError(
                    f"{other} and {name} both read {client.key_env}; each client needs its own key"
                )
        return keys


def check_client_versions(clients: ClientsConfig, versions: list[str]) -> None:
    """Every version a client lists must be configured (ValueError naming the path)."""
    for name, client in clients.keys.items():
        for i, version in enumerate(client.versions or ()):
            if version not in versions:
                raise ValueError(
                    f"keys.{name}.versions[{i}]: {version!r} is not a key of `versions` "
                    f"({sorted(versions)})"
                )
