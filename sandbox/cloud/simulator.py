"""CloudSimulator: the world, its clock and faults behind one HTTP endpoint for SMC, ECS and STS."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.cloud import ecs, smc, sts
from sandbox.cloud.api import Context, Handler
from sandbox.cloud.assistant import advance_invocations
from sandbox.cloud.calls import CallLog, RecordedCall, redact_params
from sandbox.cloud.clock import SimClock
from sandbox.cloud.faults import INTERNAL_ERROR_MESSAGE, Faults
from sandbox.cloud.ids import IdFactory, request_id
from sandbox.cloud.loader import default_world, load_world
from sandbox.cloud.protocol import ApiError, Params, iso, missing_param
from sandbox.cloud.replication import ReplicationEngine
from sandbox.cloud.resources import refresh_instance
from sandbox.cloud.signature import Authenticator, Caller, SignedRequest
from sandbox.cloud.world import World

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Product:
    """One API product served by the simulator."""

    code: str
    version: str
    host: str
    actions: Mapping[str, Handler]


PRODUCTS: dict[str, Product] = {
    "2019-06-01": Product("Smc", "2019-06-01", "smc.aliyuncs.com", smc.ACTIONS),
    "2014-05-26": Product("Ecs", "2014-05-26", "ecs.aliyuncs.com", ecs.ACTIONS),
    "2015-04-01": Product("Sts", "2015-04-01", "sts.aliyuncs.com", sts.ACTIONS),
}


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """What the HTTP layer sends back."""

    status: int
    headers: dict[str, str]
    body: bytes


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CloudSimulator:
    """SMC 2019-06-01, ECS 2014-05-26 and STS 2015-04-01 over HTTP, on a simulated clock.

    `CloudSimulator(world, time_scale=1.0, port=0).start()` serves on 127.0.0.1 in a background
    thread; `url` is `http://127.0.0.1:<port>`. Usable as a context manager.
    """

    def __init__(
        self,
        world: World | Mapping[str, Any] | str | Path | None = None,
        time_scale: float = 1.0,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        if world is None:
            self._world = default_world()
        elif isinstance(world, World):
            self._world = world
        else:
            self._world = load_world(world)
        self.clock = SimClock(start=self._world.clock_start, time_scale=time_scale)
        self.faults = Faults(self._world.faults)
        self.ids = IdFactory(f"{self._world.seed}|runtime")
        self.engine = ReplicationEngine(self._world, self.ids, self.faults)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._auth = Authenticator()
        self._calls = CallLog()
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> CloudSimulator:
        """Bind and serve in a background thread; returns self."""
        from sandbox.cloud.server import make_server

        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = make_server(self, self._host, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="cloud-simulator",
            daemon=True,
        )
        self._thread.start()
        log.info("cloud simulator listening url=%s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        server = self._server
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        log.info("cloud simulator stopped")

    def __enter__(self) -> CloudSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://host:port` of the running server."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def endpoint(self) -> str:
        """`host:port`, the form an SDK `Config(endpoint=…, protocol='http')` takes."""
        return self.url.removeprefix("http://")

    # -- state and clock -----------------------------------------------------------------------------
    @property
    def world(self) -> World:
        """The world, brought up to the simulator's now (read it; mutate only in tests that mean to)."""
        self.sync()
        return self._world

    def sync(self) -> datetime:
        """Apply every simulated event up to now; returns now."""
        with self.lock:
            now = self.clock.now()
            for instance in self._world.instances.values():
                refresh_instance(instance, now)
            advance_invocations(self._world, self.ids, now)
            self.engine.advance_all(now)
            for source_id, source in list(self._world.source_servers.items()):
                if source.gone_at is not None and now >= source.gone_at:
                    del self._world.source_servers[source_id]
            return now

    def set_time_scale(self, time_scale: float) -> None:
        """Simulated seconds per real second from now on."""
        with self.lock:
            self.sync()
            self.clock.set_time_scale(time_scale)

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward and apply what happened meanwhile; returns the new now."""
        with self.lock:
            self.clock.advance(seconds)
            return self.sync()

    def calls(self, action: str | None = None) -> list[RecordedCall]:
        """API calls received so far (secrets removed), optionally only one action."""
        return self._calls.calls(action)

    def reset_calls(self) -> None:
        """Forget the received calls."""
        self._calls.reset()

    # -- the API -------------------------------------------------------------------------------------
    def handle_api(self, request: SignedRequest) -> ApiResponse:
        """Authenticate, inject faults, dispatch one RPC call and record it."""
        rid = request_id()
        action = request.header("x-acs-action") or request.query.get("Action", "")
        version = request.header("x-acs-version") or request.query.get("Version", "")
        product = PRODUCTS.get(version)
        signature = "ACS3-HMAC-SHA256" if request.header("authorization") else "HMAC-SHA1"
        caller: Caller | None = None
        params = Params(request.query)
        try:
            with self.lock:
                now = self.sync()
                caller = self._auth.authenticate(
                    request, self._world, real_now=datetime.now(UTC), sim_now=now
                )
            if not action:
                raise missing_param("Action")
            if product is None:
                raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            handler = product.actions.get(action)
            if handler is None:
                raise ApiError(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                )
            delay = self.faults.latency_for(action)
            if delay > 0:
                self.stopping.wait(delay)
            injected = self.faults.injected_error(action)
            if injected is not None:
                raise injected
            with self.lock:
                now = self.sync()
                context = Context(self._world, caller, now, self.ids, self.faults, self.engine, action)
                result = handler(context, params)
            status, body = 200, {"RequestId": rid, **result}
            headers: dict[str, str] = {}
            code = ""
        except ApiError as error:
            status, code, headers = error.status, error.code, dict(error.headers)
            host = product.host if product is not None else "aliyuncs.com"
            product_code = product.code if product is not None else ""
            body = {
                "RequestId": rid,
                "HostId": host,
                "Code": error.code,
                "Message": error.message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product={product_code}&requestId={rid}",
            }
        except Exception:
            log.exception("simulator handler failed action=%s request_id=%s", action, rid)
            status, code, headers = 500, "InternalError", {}
            body = {
                "RequestId": rid,
                "Code": "InternalError",
                "Message": INTERNAL_ERROR_MESSAGE,
            }
        self._calls.record(
            RecordedCall(
                action=action,
                version=version,
                product=product.code.lower() if product is not None else "",
                account_uid=caller.account_uid if caller is not None else "",
                access_key_id=caller.access_key_id if caller is not None else "",
                signature=signature,
                params=redact_params(params.as_dict()),
                status=status,
                code=code,
                request_id=rid,
                time=iso(datetime.now(UTC)),
                sim_time=iso(self.clock.now()),
            )
        )
        headers.update({"Content-Type": "application/json;charset=utf-8", "x-acs-request-id": rid})
        return ApiResponse(status, headers, _json(body))
