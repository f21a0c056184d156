"""Client API keys on /v1: who is calling, which versions they may get, how fast.

Only built when rollout.yaml has `clients:`; without it the gateway installs
none of this and the request path does no extra work.

A presented key is looked up by its sha256 digest in a dict of digests. The
dict lookup compares digests, not keys, so how long a wrong guess takes says
nothing about how many leading characters of a real key it got right (the
admin routes get the same property from `hmac.compare_digest`). The admin
token is one more entry: unlimited, every version, recorded as `admin`.
Keys live only in that dict, as digests; names are what records, metrics and
logs show.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter

from ..config import ADMIN_CLIENT, ClientsConfig
from ._errors import RequestError
from ._upstream import UpstreamConfigError

# A key shorter than this is refused at start: guessable keys protect nothing.
MIN_KEY_LENGTH = 16
OUTCOMES = ("accepted", "rate_limited", "pinned_to_stable", "version_not_allowed")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Answers a request refused before routing: (error, endpoint label, extra headers).
Refuse = Callable[[RequestError, str, dict[str, str]], web.StreamResponse]


class ClientKeysError(UpstreamConfigError):
    """A client key cannot be set up (unset, too short, shared). A subclass of
    UpstreamConfigError so `serve` reports it the same way: one line, exit 2."""


class TokenBucket:
    """`capacity` requests at once, refilled at `rate` per second.

    Written here because it is a dozen lines: the async rate-limit libraries
    (aiolimiter and the like) *wait* for capacity, while the gateway must
    answer 429 at once and say when to retry. One event loop owns each
    bucket, so no lock is needed.
    """

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is there."""
        tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


@dataclass(slots=True, eq=False)
class Client:
    """A named caller: which versions may answer it and its rate limit."""

    name: str
    versions: frozenset[str] | None  # None: every version
    bucket: TokenBucket | None = None
    per_minute: float | None = None
    counts: dict[str, Counter] = field(default_factory=dict)  # outcome -> bound child

    def allows(self, version: str) -> bool:
        return self.versions is None or version in self.versions

    def count(self, outcome: str) -> None:
        child = self.counts.get(outcome)
        if child is not None:
            child.inc()


def _digest(key: str) -> bytes:
    # surrogateescape: aiohttp decodes header bytes that are not UTF-8 that way.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class ClientKeys:
    """The configured clients, found by the digest of the key they present."""

    def __init__(
        self,
        clients: Mapping[bytes, Client],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_digest = dict(clients)
        self.clock = clock

    @classmethod
    def from_config(
        cls,
        config: ClientsConfig,
        *,
        admin_token: str | None,
        env: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> ClientKeys:
        """Read each client's key from the environment; errors name the variable,
        never the value."""
        env = os.environ if env is None else env
        now = clock()
        by_digest: dict[bytes, Client] = {}
        owner: dict[bytes, str] = {}
        if admin_token:
            admin = _digest(admin_token)
            by_digest[admin] = Client(ADMIN_CLIENT, None)
            owner[admin] = "the admin token"
        for name, kc in config.keys.items():
            where = f"clients.keys.{name}.key_env"
            key = (env.get(kc.key_env) or "").strip()
            if not key:
                raise ClientKeysError(f"{where}: environment variable {kc.key_env} is not set")
            if len(key) < MIN_KEY_LENGTH:
                raise ClientKeysError(
                    f"{where}: the key in {kc.key_env} is shorter than {MIN_KEY_LENGTH} "
                    "characters; use a random one (e.g. `openssl rand -hex 32`)"
                )
            digest = _digest(key)
            if digest in owner:
                raise ClientKeysError(
                    f"{where}: the key in {kc.key_env} is the same as {owner[digest]}'s; "
                    "each client needs its own key"
                )
            owner[digest] = f"client {name}"
            limit = kc.rate_limit
            bucket = None
            if limit is not None:
                bucket = TokenBucket(limit.requests_per_minute / 60.0, float(limit.burst or 1), now)
            versions = None if kc.versions is None else frozenset(kc.versions)
            by_digest[digest] = Client(
                name,
                versions,
                bucket,
                per_minute=None if limit is None else limit.requests_per_minute,
            )
        if registry is not None:
            counter = Counter(
                "saferollout_client_requests",
                "Requests per client key by outcome (the name, never the key)",
                ["client", "outcome"],
                registry=registry,
            )
            for client in by_digest.values():
                client.counts = {o: counter.labels(client.name, o) for o in OUTCOMES}
        return cls(by_digest, clock=clock)

    @property
    def names(self) -> list[str]:
        return sorted(c.name for c in self._by_digest.values() if c.name != ADMIN_CLIENT)

    def authenticate(self, authorization: str | None) -> Client | None:
        """The client whose key is in `Authorization: Bearer <key>`, or None."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        return self._by_digest.get(_digest(authorization[7:].strip()))

    def throttle(self, client: Client) -> float:
        """0.0 when the client may go on, else the seconds until it may."""
        bucket = client.bucket
        if bucket is None:
            return 0.0
        return bucket.take(self.clock())


CLIENT: web.RequestKey[Client] = web.RequestKey("saferollout.client", Client)


def client_middleware(keys: ClientKeys, endpoints: Mapping[str, str], refuse: Refuse) -> Middleware:
    """Guard every /v1 route, including those other modules register (feedback)
    and any added later: a route cannot be left open by forgetting a check.

    `endpoints` maps a path to its metrics label; a refused request is answered
    by `refuse` like every refusal before routing (no record, version "none").
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/v1/"):
            return await handler(request)
        endpoint = endpoints.get(path, "other")
        authorization = request.headers.get("Authorization")
        client = keys.authenticate(authorization)
        if client is None:
            missing = not authorization
            message = (
                "this gateway needs an API key: send 'Authorization: Bearer <client key>'"
                if missing
                else "the API key is not valid for this gateway"
            )
            error = RequestError(401, message, code="invalid_api_key")
            return refuse(error, endpoint, {"WWW-Authenticate": "Bearer"})
        wait = keys.throttle(client)
        if wait:
            client.count("rate_limited")
            error = RequestError(
                429,
                f"client {client.name!r} is over its rate limit of {client.per_minute:g} "
                f"requests per minute; retry in {wait:.2f} s",
                type="requests",  # what OpenAI sends with rate_limit_exceeded
                code="rate_limit_exceeded",
            )
            # Retry-After takes whole seconds; the openai client prefers retry-after-ms.
            headers = {
                "Retry-After": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            }
            return refuse(error, endpoint, headers)
        client.count("accepted")
        request[CLIENT] = client
        return await handler(request)

    return guard


def version_not_allowed(client: Client, version: str) -> RequestError:
    allowed = ", ".join(sorted(client.versions or ()))
    return RequestError(
        403,
        f"client {client.name!r} may use only {allowed}; this request was routed to "
        f"{version!r} and stable is not among them either",
        type="permission_error",
        code="version_not_allowed",
    )
