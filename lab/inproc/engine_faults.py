"""Faults the lab injects into an engine at run time (a faults scenario, lab.load.faults): its
first chunks held back (slow), or a share of its requests answered with HTTP 500 or their stream
cut after the first chunk (errors). Both the ASGI middleware of vLLM engines (lab.inproc.
engine_tag wraps the app in `wrap`) and the simulated engine (lab.sim.server) keep one `Faults`
and read it per request.

On vLLM the same `Faults` also carries the profile's engine.test_delay ($LAB_TEST_DELAY, set at
start, no token needed) as its `standing` delay: a slow fault adds to it, and clearing the
run-time faults leaves it in force, so an engine slowed on purpose stays slowed as its manifest
says. (A simulated engine has its test delay in its ttft_ms instead: lab.config.commandlines.)

The control is POST /lab/faults with a JSON body of settings ({} clears them), and is there only
when the lab started the engine with a token in $LAB_FAULT_TOKEN (a profile with a faults
scenario): a request without that token in the x-lab-fault-token header is refused, so nothing
but the lab that started the engine can change it. The engine listens on 127.0.0.1 (Compose
publishes it there only), so nothing beyond this machine reaches it at all.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

TOKEN_ENV = "LAB_FAULT_TOKEN"
TEST_DELAY_ENV = "LAB_TEST_DELAY"  # lab.config.commandlines sets it from engine.test_delay
TOKEN_HEADER = "x-lab-fault-token"
PATH = "/lab/faults"
GOLDEN = (5**0.5 - 1) / 2  # spreads any run of requests evenly over [0, 1), as lab.sim does
SETTINGS = {"first_chunk_ms": float, "ttft_share": float, "error_share": float, "error_mode": str}
MODES = ("http_500", "cut")


@dataclass(frozen=True)
class Delay:
    """How long a first chunk is held back: `first_chunk_ms` plus `ttft_share` of the time that
    answer took to its first chunk."""

    first_chunk_ms: float = 0.0
    ttft_share: float = 0.0

    @classmethod
    def from_env(cls) -> Delay:
        """The test delay the lab started this engine with (none: no delay)."""
        delay = json.loads(os.environ.get(TEST_DELAY_ENV) or "{}")
        return cls(float(delay.get("first_chunk_ms", 0)), float(delay.get("ttft_share", 0)))

    @property
    def on(self) -> bool:
        return self.first_chunk_ms > 0 or self.ttft_share > 0

    def seconds(self, to_first_chunk: float) -> float:
        """Seconds to hold back a first chunk that took `to_first_chunk` seconds to come."""
        return self.first_chunk_ms / 1000 + self.ttft_share * to_first_chunk


@dataclass
class Faults:
    """The run-time settings in force on top of the standing test delay, and how many requests
    have met the error draw."""

    first_chunk_ms: float = 0.0
    ttft_share: float = 0.0
    error_share: float = 0.0
    error_mode: str = "http_500"
    drawn: int = 0
    standing: Delay = Delay()

    def apply(self, body: Any) -> None:
        """Replace every setting with the body's (absent: off); ValueError when it is not a
        mapping of known settings of the right types within range."""
        if not isinstance(body, dict) or set(body) - set(SETTINGS):
            raise ValueError(f"expected a JSON object of {', '.join(SETTINGS)}")
        fresh = Faults()
        for name, kind in SETTINGS.items():
            if name in body:
                value = body[name]
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if kind is float and not number:
                    raise ValueError(f"{name}: expected a number")
                setattr(fresh, name, kind(value))
        if not (0 <= fresh.error_share <= 1 and fresh.ttft_share >= 0 <= fresh.first_chunk_ms):
            raise ValueError("expected error_share within 0..1 and delays of 0 or more")
        if fresh.error_mode not in MODES:
            raise ValueError(f"error_mode: expected one of {', '.join(MODES)}")
        for name in SETTINGS:
            setattr(self, name, getattr(fresh, name))

    @property
    def slow(self) -> Delay:
        """The standing test delay and a slow fault's, added."""
        return Delay(
            self.standing.first_chunk_ms + self.first_chunk_ms,
            self.standing.ttft_share + self.ttft_share,
        )

    def draw(self) -> str:
        """ "" or the error mode this request meets: request n stands at the fractional part of
        n times the golden ratio, so the share holds over any short run of requests."""
        if self.error_share <= 0:
            return ""
        n, self.drawn = self.drawn, self.drawn + 1
        return self.error_mode if (n * GOLDEN) % 1.0 < self.error_share else ""


def token() -> str:
    """The token the lab started this engine with ("": run-time control is off)."""
    return os.environ.get(TOKEN_ENV, "")


def allowed(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def answer(faults: Faults, given: str, expected: str, body: bytes) -> tuple[int, dict]:
    """(status, JSON) of a control request: the settings now, or why not."""
    if not allowed(given, expected):
        return 403, {"error": f"a run-time fault needs the lab's token ({TOKEN_HEADER})"}
    try:
        faults.apply(json.loads(body or b"{}"))
    except ValueError as exc:
        return 400, {"error": str(exc)}
    return 200, {name: getattr(faults, name) for name in SETTINGS}


Message = dict[str, Any]


class Cut(Exception):
    """Ends a response midway: the server drops the connection without finishing it."""


def wrap(app: Any, faults: Faults) -> Any:
    """`app` with run-time control of `faults` and their errors, when the lab gave this engine a
    token; else `app` itself. The caller holds first chunks back (EngineTag), with or without."""
    expected = token()
    return FaultyApp(app, expected, faults) if expected else app


class FaultyApp:
    def __init__(self, app: Any, expected: str, faults: Faults) -> None:
        self.app, self.expected, self.faults = app, expected, faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PATH:
            await self._control(scope, receive, send)
            return
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        broken = self.faults.draw()
        if broken == "http_500":
            await _reply(send, 500, {"error": {"message": "a fault the lab injected", "code": 500}})
            return
        await self.app(scope, receive, _cutting(send) if broken == "cut" else send)

    async def _control(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope.get("headers", []))
        given = headers.get(TOKEN_HEADER.encode(), b"").decode("latin-1")
        status, data = answer(self.faults, given, self.expected, body)
        await _reply(send, status, data)


def _cutting(send: Any) -> Any:
    """`send` that ends the response after its first chunk of a body that goes on."""

    async def cut(message: Message) -> None:
        await send(message)
        body = message["type"] == "http.response.body" and bool(message.get("body"))
        if body and message.get("more_body", False):
            raise Cut("the lab cut this stream midway")

    return cut


async def _reply(send: Any, status: int, data: dict) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(data).encode()})
