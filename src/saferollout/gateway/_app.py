"""The gateway: OpenAI-compatible routes in front of the versions' servers.

The request path does: read and check the body, pick a version (hash, no I/O),
forward with the version's pooled client, pass bytes back as they come, and
append one record to the writer's queue. It never waits on the database and
never scores; the raw upstream body is parsed later by the record-writer process.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..config import RolloutConfig, VersionConfig
from ..routing import Router, RoutingTable, hash_key, sticky_key
from ..safety import GuardrailDecision, Guardrails, StreamGuard
from ..store import InteractionRecord, Store
from . import _extract
from . import _validation as v
from ._admin import AdminRoutes, is_admin
from ._clients import CLIENT, Client, ClientKeys, client_middleware, version_not_allowed
from ._errors import RequestError, error_response
from ._feedback import FeedbackRoutes
from ._guard import SSETextReader, blocked_response, sse_blocked
from ._metrics import GatewayMetrics
from ._middleware import openai_errors
from ._openapi import add_openapi_route
from ._record_process import Tokens
from ._upstream import Upstream
from ._writer import RecordWriter

log = logging.getLogger("saferollout.gateway")

_VALIDATORS: dict[str, Callable[[dict[str, Any]], None]] = {
    "chat.completions": v.validate_chat,
    "completions": v.validate_completion,
    "embeddings": v.validate_embedding,
}
_PATHS = {
    "chat.completions": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}
_SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
OVERRIDE_HEADER = "X-Rollout-Version"
# Sent when the upstream breaks mid-stream (after headers, so no retry is possible).
_SSE_BROKEN = (
    b'data: {"error": {"message": "the model server broke off the stream", '
    b'"type": "server_error", "code": "upstream_stream_broken"}}\n\n'
)


@dataclass(slots=True)
class _Failure:
    """An upstream attempt that failed before any byte reached the client."""

    kind: str  # "connect" | "timeout" | "upstream_5xx" | "upstream_error"
    status: int = 502
    body: bytes | None = None
    content_type: str = "application/json"


class Gateway:
    def __init__(
        self,
        config: RolloutConfig,
        store: Store,
        *,
        admin_token: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.admin_token = admin_token
        self.upstreams = {name: Upstream(name, vc) for name, vc in config.versions.items()}
        # Until a controller takes over, route with the first step's weight.
        self.stable = config.stable
        self.step: int | None = None
        self.shadow: tuple[str, float] | None = None  # (version, share) mirrored off stable
        self._mirrors: set[asyncio.Task[None]] = set()
        table = RoutingTable.from_weights(
            config.stable, {config.candidate: config.strategy.initial_weight()}
        )
        self.router = Router(table, salt=config.salt, versions=list(config.versions))
        self.sticky_sources = [
            ("header", s.header) if s.header else ("body", s.body or "")
            for s in config.stickiness.keys
        ]
        safety = config.safety
        on = ("flag", "block")
        self.guardrails = (
            Guardrails.from_config(safety)
            if safety.guardrails.input.mode in on or safety.guardrails.output.mode in on
            else None
        )
        self.metrics = GatewayMetrics({name: vc.model for name, vc in config.versions.items()})
        self.metrics.set_weights(table.weights())
        # None (no `clients:`): /v1 stays open and nothing below checks keys.
        self.clients = (
            None
            if config.clients is None
            else ClientKeys.from_config(
                config.clients, admin_token=admin_token, registry=self.metrics.registry
            )
        )
        self.writer: RecordWriter | None = None
        self._in_flight = 0  # proxied requests being served (one event loop: no lock)
        # Unique without a syscall per request: a random prefix per process and a
        # counter (os.urandom per request was ~3% of the event loop's time), plus a
        # keyed hash of the counter so that a client who sees its own ids cannot
        # guess another user's (POST /v1/feedback takes an id).
        prefix = "req_" + os.urandom(8).hex()
        key = os.urandom(16)
        self._request_ids = (
            f"{prefix}{n:08x}{hashlib.blake2b(n.to_bytes(8), key=key, digest_size=6).hexdigest()}"
            for n in itertools.count()
        )
        self.admin = AdminRoutes(store, config.name, admin_token)
        self.feedback = FeedbackRoutes(store, self.metrics.registry, redact=config.logging.redact)
        self.app = self._build_app()

    # -- wiring ----------------------------------------------------------------

    def _build_app(self) -> web.Application:
        # client_max_size also bounds chunked bodies with no Content-Length.
        # openai_errors: aiohttp's own 404/405/413 answers in OpenAI's error shape.
        app = web.Application(
            client_max_size=self.config.server.max_body_bytes, middlewares=[openai_errors]
        )
        add_openapi_route(app, self.config)
        if self.clients is not None:
            paths = {"/v1" + path: e for e, path in _PATHS.items()}
            paths |= {"/v1/models": "models", "/v1/feedback": "feedback"}
            app.middlewares.append(client_middleware(self.clients, paths, self._refuse_new))
            log.info("client keys required on /v1 for: %s", ", ".join(self.clients.names))
        for endpoint, path in _PATHS.items():
            app.router.add_post("/v1" + path, self._handler(endpoint))
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.prometheus)
        self.admin.register(app)
        self.feedback.register(app)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    def _handler(self, endpoint: str) -> Callable[[web.Request], Any]:
        limit = self.config.server.max_in_flight

        async def handle(request: web.Request) -> web.StreamResponse:
            # A bound on proxied requests in flight: past it, a quick 503 the client
            # can retry beats queueing without end for upstream connections and memory.
            if self._in_flight >= limit:
                overloaded = RequestError(
                    503,
                    f"the gateway has {limit} requests in flight (server.max_in_flight); "
                    "retry shortly",
                    type="server_error",
                    code="overloaded",
                )
                ids = {"X-Request-Id": next(self._request_ids)}
                return self._refuse(overloaded, endpoint, ids, {"Retry-After": "1"})
            self._in_flight += 1
            try:
                return await self.proxy(request, endpoint)
            finally:
                self._in_flight -= 1

        return handle

    async def _on_startup(self, _app: web.Application) -> None:
        m = self.metrics
        self.writer = RecordWriter(
            self.store.url,
            redact=self.config.logging.redact,
            flush_interval_s=self.config.server.flush_interval_s,
            max_queue=self.config.server.record_queue_max,
            on_written=self._count_written,
            on_drop=m.records_dropped.inc,
            on_restart=m.writer_restarts.inc,
        )

    async def _on_cleanup(self, _app: web.Application) -> None:
        # aiohttp runs cleanup after in-flight handlers finished; mirrored
        # requests still running are awaited too, so that every record is
        # queued before the writer's final flush.
        if self._mirrors:
            await asyncio.gather(*self._mirrors, return_exceptions=True)
        for upstream in self.upstreams.values():
            await upstream.close()
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await asyncio.get_running_loop().run_in_executor(
                None, writer.close, self.config.server.shutdown_timeout_s
            )
            log.info("records written: %d, dropped: %d", writer.written, writer.dropped)

    def _count_written(self, written: int, tokens: Tokens) -> None:
        """The record-writer process committed a batch (runs on the writer's thread)."""
        m = self.metrics
        m.records_written.inc(written)
        for (version, kind, endpoint), counts in tokens.items():
            m.count_tokens(version, kind, counts, endpoint)

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the shares of the non-stable versions at once."""
        self.apply_routing(self.stable, weights, self.step, self.shadow)

    def apply_routing(
        self,
        stable: str,
        weights: dict[str, float],
        step: int | None = None,
        shadow: tuple[str, float] | None = None,
    ) -> None:
        """The controller's lever: which version is stable and who gets what share.

        Safe from any thread: the router swaps one immutable table, and the
        next request reads the new one.
        """
        table = RoutingTable.from_weights(stable, weights)
        self.router.set_table(table)
        self.stable = stable
        self.step = step
        self.shadow = shadow
        self.metrics.set_weights(table.weights())

    # -- the request path ------------------------------------------------------

    async def proxy(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        started = time.perf_counter()
        created_at = time.time()
        request_id = next(self._request_ids)
        ids = {"X-Request-Id": request_id}
        try:
            raw = await self._read_body(request)
            body = v.parse_body(raw)
            _VALIDATORS[endpoint](body)
            forced = self._forced_version(request)
        except RequestError as exc:
            return self._refuse(exc, endpoint, ids)

        key = sticky_key(self.sticky_sources, request.headers, body)
        version = forced or self.router.assign(key)
        client: Client | None = None
        pinned_from: str | None = None
        if self.clients is not None:
            client = request[CLIENT]
            if not client.allows(version):
                stable = self.stable  # read once: the controller may switch it meanwhile
                if not client.allows(stable):
                    client.count("version_not_allowed")
                    return self._refuse(version_not_allowed(client, version), endpoint, ids)
                # Not the candidate's request: it is stable's (see design-details).
                client.count("pinned_to_stable")
                pinned_from, version = version, stable
        stream = endpoint != "embeddings" and body.get("stream") is True
        record = InteractionRecord(
            request_id=request_id,
            created_at=created_at,
            version=version,
            endpoint=endpoint,
            status_code=0,
            latency_ms=0.0,
            stream=stream,
            sticky_key_hash=None if key is None else hash_key(key),
            session_id=request.headers.get("X-Session-Id"),
            request_messages=v.messages_of(endpoint, body),
            rollout_step=self.step,
        )
        if forced:
            record.extra["forced"] = True
        if client is not None:
            record.extra["client"] = client.name
            if pinned_from is not None:
                record.extra["pinned_from"] = pinned_from
        shadow = self.shadow
        if (
            shadow is not None
            and version == self.stable
            and self.router.should_shadow(key, shadow[1])
            and (client is None or client.allows(shadow[0]))
        ):
            self._spawn_mirror(shadow[0], endpoint, dict(body), record)
        upstream_s = 0.0
        response: web.StreamResponse | None = None
        try:
            blocked = self._input_guardrail(record, endpoint, stream, ids)
            if blocked is not None:
                return blocked
            t = time.perf_counter()
            result = await self._attempt(request, record, version, endpoint, body, stream, started)
            upstream_s += time.perf_counter() - t
            if isinstance(result, _Failure) and self._may_retry(version, forced, client):
                self.metrics.errors.labels(version, result.kind).inc()
                self.metrics.retries.labels(version).inc()
                record.retried_from = version
                record.extra["retry_reason"] = result.kind
                version = record.version = self.stable
                t = time.perf_counter()
                result = await self._attempt(
                    request, record, version, endpoint, body, stream, started
                )
                upstream_s += time.perf_counter() - t
            if isinstance(result, _Failure):
                self.metrics.errors.labels(version, result.kind).inc()
                record.error_kind = result.kind
                record.status_code = result.status
                response = _failure_response(result, version, ids)
            else:
                response = result
            return response
        finally:
            # Runs however the request ends (client gone, cancelled): one record each.
            total = time.perf_counter() - started
            record.latency_ms = total * 1000
            if record.status_code == 0:
                record.status_code = 499  # the client went away before an answer
                record.error_kind = record.error_kind or "client_disconnected"
            self.metrics.observe(
                record.version, endpoint, record.status_code, total, record.error_kind
            )
            self.metrics.observe_overhead(max(total - upstream_s, 0.0))
            if record.error_kind == "stream_broken":
                self.metrics.errors.labels(record.version, record.error_kind).inc()
            self.feedback.observe(record)
            if self.writer is not None:
                self.writer.submit(record)

    def _guardrail_hit(self, record: InteractionRecord, decision: GuardrailDecision) -> None:
        record.extra.update(decision.record_extra())
        self.metrics.guardrail.labels(record.version, decision.stage, decision.action).inc()

    def _input_guardrail(
        self, record: InteractionRecord, endpoint: str, stream: bool, headers: dict[str, str]
    ) -> web.Response | None:
        """Judge the prompt before any model sees it; a block answers at once."""
        guard = self.guardrails
        if guard is None or not guard.input_enabled or endpoint == "embeddings":
            return None
        decision = guard.check_input(record.request_messages)
        if not decision.triggered:
            return None
        self._guardrail_hit(record, decision)
        if not decision.blocked:
            return None
        record.status_code = 200
        model = self.config.versions[record.version].model
        headers = {**headers, OVERRIDE_HEADER: record.version}
        return blocked_response(
            endpoint, stream, decision.message or "", model, record.request_id, headers
        )

    def _output_guardrail(
        self, record: InteractionRecord, endpoint: str, raw: bytes, headers: dict[str, str]
    ) -> web.Response | None:
        """Judge a plain answer before the client sees it; the record keeps what the
        model said (it is the version's behaviour), the client gets the block message."""
        guard = self.guardrails
        if guard is None or not guard.output_enabled or endpoint == "embeddings":
            return None
        text = _extract.from_json(endpoint, raw)[0]
        decision = guard.check_output(text, record.request_messages)
        if not decision.triggered:
            return None
        self._guardrail_hit(record, decision)
        if not decision.blocked:
            return None
        model = self.config.versions[record.version].model
        return blocked_response(
            endpoint, False, decision.message or "", model, record.request_id, headers
        )

    def _spawn_mirror(
        self, version: str, endpoint: str, body: dict[str, Any], original: InteractionRecord
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._mirror(version, endpoint, body, original)
        )
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _mirror(
        self, version: str, endpoint: str, body: dict[str, Any], original: InteractionRecord
    ) -> None:
        """Send a copy to the shadow version and record its answer; no client sees it.

        Mirrors are sent unstreamed: the shadow is judged on content, and a
        plain call is the cheapest way to get all of it.
        """
        started = time.perf_counter()
        upstream = self.upstreams[version]
        body = _for_version(body, endpoint, upstream.config)
        body["stream"] = False
        body.pop("stream_options", None)
        record = InteractionRecord(
            request_id="shd_" + os.urandom(12).hex(),
            created_at=time.time(),
            version=version,
            endpoint=endpoint,
            status_code=0,
            latency_ms=0.0,
            sticky_key_hash=original.sticky_key_hash,
            session_id=original.session_id,
            request_messages=original.request_messages,
            shadow=True,
            rollout_step=self.step,
            extra={"mirror_of": original.request_id},
        )
        try:
            async with upstream.post(
                _PATHS[endpoint], orjson.dumps(body), stream=False, request_id=record.request_id
            ) as up:
                raw = await up.read()
                record.status_code = up.status
                if up.status == 200:
                    record.raw_response = raw
                else:
                    record.error_kind = "upstream_5xx" if up.status >= 500 else "upstream_4xx"
        except TimeoutError:
            record.status_code, record.error_kind = 504, "timeout"
        except aiohttp.ClientError as exc:
            kind = "connect" if isinstance(exc, aiohttp.ClientConnectorError) else "upstream_error"
            record.status_code, record.error_kind = 502, kind
        finally:
            record.latency_ms = (time.perf_counter() - started) * 1000
            if record.status_code == 0:
                record.status_code, record.error_kind = 499, "cancelled"
            if self.writer is not None:
                self.writer.submit(record)

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.config.server.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise RequestError(
                413,
                f"request body is {request.content_length} bytes; the limit is {limit}",
                code="request_too_large",
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestError(
                413, f"request body exceeds the limit of {limit} bytes", code="request_too_large"
            ) from None

    def _forced_version(self, request: web.Request) -> str | None:
        name = request.headers.get(OVERRIDE_HEADER)
        if name is None:
            return None
        if not self._is_admin(request):
            raise RequestError(
                403,
                f"the {OVERRIDE_HEADER} header needs the admin bearer token",
                type="permission_error",
                code="override_not_allowed",
            )
        if name not in self.upstreams:
            known = ", ".join(sorted(self.upstreams))
            raise RequestError(
                400,
                f"{OVERRIDE_HEADER}: unknown version {name!r}; known: {known}",
                code="unknown_version",
            )
        return name

    def _refuse(
        self,
        exc: RequestError,
        endpoint: str,
        ids: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """Answer a request refused before any version served it: no record, counted
        under version "none"."""
        ids[OVERRIDE_HEADER] = "none"
        self.metrics.count_refused(endpoint, exc.status)
        return error_response(
            exc.status,
            exc.message,
            type=exc.type,
            code=exc.code,
            param=exc.param,
            headers={**ids, **headers} if headers else ids,
        )

    def _refuse_new(
        self, exc: RequestError, endpoint: str, headers: dict[str, str]
    ) -> web.Response:
        """`_refuse` for a request no handler has seen yet (client keys): a new id."""
        return self._refuse(exc, endpoint, {"X-Request-Id": next(self._request_ids)}, headers)

    def _is_admin(self, request: web.Request) -> bool:
        # Forcing a version always needs a real token, even from loopback.
        return self.admin_token is not None and is_admin(request, self.admin_token)

    def _may_retry(self, version: str, forced: str | None, client: Client | None) -> bool:
        return (
            self.config.retry_on_stable
            and version != self.stable
            and forced is None
            and (client is None or client.allows(self.stable))
        )

    async def _attempt(
        self,
        request: web.Request,
        record: InteractionRecord,
        version: str,
        endpoint: str,
        body: dict[str, Any],
        stream: bool,
        started: float,
    ) -> web.StreamResponse | _Failure:
        upstream = self.upstreams[version]
        data = orjson.dumps(_for_version(body, endpoint, upstream.config))
        headers = {"X-Request-Id": record.request_id, OVERRIDE_HEADER: version}
        try:
            async with upstream.post(
                _PATHS[endpoint], data, stream=stream, request_id=record.request_id
            ) as up:
                if up.status >= 500:
                    return _Failure("upstream_5xx", up.status, await up.read(), up.content_type)
                if not (stream and up.status == 200):
                    raw = await up.read()
                    record.status_code = up.status
                    if up.status == 200:
                        record.raw_response = raw
                        blocked = self._output_guardrail(record, endpoint, raw, headers)
                        if blocked is not None:
                            return blocked
                    else:
                        record.error_kind = "upstream_4xx"
                    return web.Response(
                        status=up.status, body=raw, content_type=up.content_type, headers=headers
                    )
                return await self._relay_stream(request, record, endpoint, up, headers, started)
        except TimeoutError:
            return _Failure("timeout", 504)
        except aiohttp.ClientError as exc:
            kind = "connect" if isinstance(exc, aiohttp.ClientConnectorError) else "upstream_error"
            return _Failure(kind, 502)

    async def _relay_stream(
        self,
        request: web.Request,
        record: InteractionRecord,
        endpoint: str,
        up: aiohttp.ClientResponse,
        headers: dict[str, str],
        started: float,
    ) -> web.StreamResponse | _Failure:
        """Pass SSE bytes through as they come; nothing is buffered but our copy,
        unless an output guardrail with `stream_policy: buffer` holds them back."""
        chunks: list[bytes] = []
        iterator = up.content.iter_any().__aiter__()
        # Wait for the first chunk before answering the client, so that an
        # upstream that fails right away can still be retried on stable.
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = b""
        except TimeoutError:
            return _Failure("timeout", 504)
        except aiohttp.ClientError:
            return _Failure("upstream_error", 502)
        response = web.StreamResponse(status=200, headers={**headers, **_SSE_HEADERS})
        self.feedback.track(record)  # the client sees its request id from here on
        await response.prepare(request)
        record.status_code = 200
        record.ttft_ms = (time.perf_counter() - started) * 1000
        self.metrics.observe_ttft(record.version, record.ttft_ms / 1000, record.endpoint)
        guard = self._stream_guard(endpoint, record)
        reader = SSETextReader(endpoint) if guard is not None else None
        held: list[bytes] = []  # what the buffer policy has not released yet
        blocked: GuardrailDecision | None = None
        try:
            pending = [first] if first else []
            async for chunk in _chain(pending, iterator):
                chunks.append(chunk)
                if guard is None or reader is None:
                    await response.write(chunk)
                    continue
                decision = guard.feed(reader.feed(chunk))
                if guard.holding:
                    held.append(chunk)
                    if decision is not None and decision.blocked:
                        blocked = decision
                        break
                    continue
                for part in (*held, chunk):
                    await response.write(part)
                held.clear()
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            if isinstance(exc, ConnectionResetError | aiohttp.ClientConnectionResetError):
                record.error_kind = "client_disconnected"
            else:
                record.error_kind = "stream_broken"
        except ConnectionResetError:
            record.error_kind = "client_disconnected"
        record.raw_response = b"".join(chunks)
        if record.error_kind == "client_disconnected":
            return response
        try:
            if record.error_kind == "stream_broken":
                # Say so in the stream: OpenAI clients raise on an error event
                # instead of returning a truncated answer as if it were whole.
                await response.write(_SSE_BROKEN)
            elif guard is not None:
                final = blocked or guard.finish()
                if final.triggered:
                    self._guardrail_hit(record, final)
                if final.blocked:
                    model = self.config.versions[record.version].model
                    await response.write(sse_blocked(final.message or "", model, record.request_id))
                else:
                    for part in held:
                        await response.write(part)
            await response.write_eof()
        except ConnectionResetError:
            record.error_kind = "client_disconnected"
        return response

    def _stream_guard(self, endpoint: str, record: InteractionRecord) -> StreamGuard | None:
        guard = self.guardrails
        if guard is None or not guard.output_enabled or endpoint == "embeddings":
            return None
        return guard.stream_guard(record.request_messages)

    # -- other routes ------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        # With client keys, a client sees only the versions it may be answered by.
        client = request.get(CLIENT) if self.clients is not None else None
        data = [
            {"id": vc.model, "object": "model", "created": 0, "owned_by": f"saferollout:{name}"}
            for name, vc in self.config.versions.items()
            if client is None or client.allows(name)
        ]
        return web.json_response({"object": "list", "data": data}, dumps=_dumps)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        writer_ok = self.writer is not None and self.writer.alive
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.store.schema_version)
            store_ok = True
        except Exception:
            store_ok = False
        ready = writer_ok and store_ok
        return web.json_response(
            {"ready": ready, "writer": writer_ok, "store": store_ok}, status=200 if ready else 503
        )

    async def prometheus(self, _request: web.Request) -> web.Response:
        if self.writer is not None:
            self.metrics.record_queue.set(self.writer.pending)
        # In a thread: collectors registered by others (the rollout's) may wait on a
        # lock or the database at scrape time; the event loop must not.
        body = await asyncio.get_running_loop().run_in_executor(
            None, generate_latest, self.metrics.registry
        )
        return web.Response(
            body=body,
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )


async def _chain(first: list[bytes], rest: Any) -> Any:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


def _for_version(body: dict[str, Any], endpoint: str, vc: VersionConfig) -> dict[str, Any]:
    """The body as this version gets it: its model, its system prompt, its parameters.

    A new dict each time: a retry on stable must not carry the candidate's settings.
    """
    out = {**body, **vc.params, "model": vc.model}
    if vc.system_prompt is not None and endpoint == "chat.completions":
        rest = [m for m in body["messages"] if m.get("role") not in ("system", "developer")]
        out["messages"] = [{"role": "system", "content": vc.system_prompt}, *rest]
    return out


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _failure_response(failure: _Failure, version: str, ids: dict[str, str]) -> web.Response:
    headers = {**ids, OVERRIDE_HEADER: version}
    if failure.kind == "upstream_5xx" and failure.body and failure.body.lstrip().startswith(b"{"):
        return web.Response(
            status=failure.status,
            body=failure.body,
            content_type="application/json",
            headers=headers,
        )
    messages = {
        "connect": (f"version {version!r} could not be reached", "upstream_unreachable"),
        "timeout": (f"version {version!r} did not answer in time", "upstream_timeout"),
        "upstream_5xx": (
            f"version {version!r} failed with status {failure.status}",
            "upstream_error",
        ),
        "upstream_error": (f"version {version!r} broke the connection", "upstream_error"),
    }
    message, code = messages[failure.kind]
    return error_response(
        failure.status, message, type="upstream_error", code=code, headers=headers
    )
