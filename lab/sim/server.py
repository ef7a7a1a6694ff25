"""The simulated engine's HTTP server (aiohttp): vLLM's OpenAI endpoints, /health, /metrics.

Streams go out as vLLM sends them: response headers at once, then one SSE event per token on
the engine's timeline. The per-token path only waits for its deadline, writes prebuilt bytes and
notes the time. With zero delays nothing sleeps: a stream yields to the event loop only every
YIELD_EVERY tokens, so concurrent streams still interleave (each chunk is still its own write).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import time
from typing import Any

from aiohttp import web

from lab.inproc import engine_faults
from lab.sim import api
from lab.sim.engine import Engine, Timing, output_length
from lab.sim.metrics import CONTENT_TYPE, SimMetrics
from lab.sim.options import FAULTS, SimOptions
from lab.sim.run import Run
from lab.sim.sendlog import SendLog, record
from lab.sim.tokens import PromptError

HEADER = "x-lab-engine"
SSE = "text/event-stream; charset=utf-8"
GOLDEN = (5**0.5 - 1) / 2
YIELD_EVERY = 16  # tokens a zero-delay stream writes before letting other streams in


class Sim:
    """One simulated engine: its options, scheduler, metrics and send log."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.name = options.engine_name
        self.model = options.served_model_name
        self.metrics = SimMetrics(self.model)
        timing = Timing(
            ttft=options.ttft_ms / 1000,
            tpot=options.tpot_ms / 1000,
            prefill_per_token=options.ttft_per_prompt_token_ms / 1000,
        )
        self.engine = Engine(
            timing,
            self.metrics,
            max_batch=options.max_batch,
            kv_blocks=options.kv_blocks,
            block_size=options.block_size,
            prefix_caching=options.prefix_caching,
        )
        self.log = SendLog(options.send_log) if options.send_log else None
        self.created = int(time.time())
        self.served = 0  # requests so far, to pick which ones meet a fault
        # Faults a faults scenario sets at run time (lab.inproc.engine_faults), as on vLLM.
        self.runtime = engine_faults.Faults()
        self.token = engine_faults.token()

    def fault(self) -> str:
        """The fault this request meets ("" for none). Request n stands at the fractional part
        of n times the golden ratio, which spreads any run of requests evenly over [0, 1); the
        faults own consecutive slices of it, each as wide as its share."""
        n, self.served = self.served, self.served + 1
        point, start = (n * GOLDEN) % 1.0, 0.0
        for name in FAULTS:
            start += getattr(self.options, name)
            if point < start:
                return name
        return RUNTIME_FAULTS.get(self.runtime.draw(), "")


# The run-time error modes as the command line's faults that behave alike.
RUNTIME_FAULTS = {"http_500": "error_share", "cut": "cut_share"}


SIM = web.AppKey("sim", Sim)


def make_app(options: SimOptions) -> web.Application:
    app = web.Application()
    app[SIM] = Sim(options)
    app.on_response_prepare.append(_tag)
    app.on_cleanup.append(_close_log)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/completions", _completions)
    app.router.add_post("/v1/chat/completions", _chat)
    if app[SIM].token:
        app.router.add_post(engine_faults.PATH, _faults)
    return app


async def _faults(request: web.Request) -> web.Response:
    """Run-time faults, as the vLLM middleware takes them (lab.inproc.engine_faults)."""
    sim = request.app[SIM]
    given = request.headers.get(engine_faults.TOKEN_HEADER, "")
    status, data = engine_faults.answer(sim.runtime, given, sim.token, await request.read())
    return web.json_response(data, status=status)


async def _tag(request: web.Request, response: web.StreamResponse) -> None:
    """Every response says which engine served it, as the lab's middleware on real engines."""
    response.headers[HEADER] = request.app[SIM].name
    client_id = request.headers.get("x-request-id")
    if client_id:
        response.headers["x-request-id"] = client_id


async def _close_log(app: web.Application) -> None:
    log = app[SIM].log
    if log is not None:
        log.close()


async def _health(request: web.Request) -> web.Response:
    return web.Response()


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[SIM].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _models(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return web.json_response(api.models(sim.model, sim.options.max_model_len, sim.created))


async def _completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=False)


async def _chat(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=True)


async def _generate(request: web.Request, chat: bool) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    arrival = loop.time()  # time.monotonic() on asyncio's loop
    sim = request.app[SIM]
    try:
        body: Any = json.loads(await request.read())
        job = api.parse(body, chat, sim.options.max_model_len)
    except (ValueError, PromptError) as refused:
        return web.json_response(api.error(str(refused)), status=400)
    if body.get("model") not in (None, sim.model):
        message = f"The model `{body['model']}` does not exist."
        return web.json_response(api.error(message, 404), status=404)
    count, reason = output_length(
        job.max_tokens, job.min_tokens, job.ignore_eos, sim.options.eos_after
    )
    fault = sim.fault()
    if fault == "error_share":
        return web.json_response(api.error("a simulated engine error", 500), status=500)
    if fault == "hold_share":
        await asyncio.sleep(3600)  # until the client leaves, which cancels this handler
    rid = api.request_id(chat)
    offset = time.time() - loop.time()  # loop time to wall-clock time
    times: list[float] = []
    run: Run | None = None
    response: web.StreamResponse = web.Response(status=499)  # what a client that left gets
    try:
        if job.stream:
            response = web.StreamResponse(headers={"Content-Type": SSE})
            await response.prepare(request)  # headers now, before prefill, as vLLM does
            if sim.runtime.slow.on:  # a slow fault: the first chunk later by a known amount
                await asyncio.sleep(sim.runtime.slow.seconds(sim.engine.timing.ttft))
            chunks = api.stream_chunks(job, rid, sim.model, count, reason)
            if fault == "garble_share":
                await response.write(b"data: {not json\n\n")
        async with sim.engine.admit(job.prompts, count, arrival) as run:
            if job.stream:
                broken = fault in ("cut_share", "stall_share")
                upto = max(1, count // 2) if broken else count
                await _stream(response, run, chunks, count, sim.engine.timing.tpot, times, upto)
                if broken:
                    await _break(request, fault)
            else:
                response = await _respond(request, job, run, rid, sim, count, reason, times)
            run.finished_reason = reason
        if job.stream:
            await response.write_eof()
    except ConnectionError:
        pass  # the client left: counted as an abort, logged with what it got
    finally:
        if sim.log is not None and run is not None:
            sim.log.write(_log_record(request, job, run, rid, times, offset))
    return response


def _log_record(
    request: web.Request, job: api.Job, run: Run, rid: str, times: list[float], offset: float
) -> dict[str, Any]:
    """The send-log line; `offset` turns loop (monotonic) times into wall-clock times."""
    return record(
        rid=rid,
        client_id=request.headers.get("x-request-id"),
        endpoint=request.path,
        stream=job.stream,
        prompt_tokens=run.prompt_tokens,
        cached_tokens=run.cached_tokens,
        max_tokens=job.max_tokens,
        arrival=run.arrival + offset,
        arrival_mono=run.arrival,
        admitted=run.admitted + offset,
        chunk_times=times,
        tokens=run.generated,
        finished_reason=run.finished_reason,
    )


async def _stream(
    response: web.StreamResponse,
    run: Run,
    chunks: api.Chunks,
    count: int,
    tpot: float,
    times: list[float],
    upto: int,
) -> None:
    """Token i at run.first_token_at + i * tpot: absolute deadlines, so no drift builds up. Only
    the first `upto` of the `count` tokens go out (fewer: a fault breaks the stream off)."""
    loop = asyncio.get_running_loop()
    write, log = response.write, times.append
    first_at, last = run.first_token_at, count - 1
    for i in range(upto):
        deadline = first_at + i * tpot
        delay = deadline - loop.time()
        if delay > 0:
            while delay > 0:
                await asyncio.sleep(delay)
                delay = deadline - loop.time()
        elif i % YIELD_EVERY == 0 and i:
            await asyncio.sleep(0)  # let other streams in, as a batch would
        await write(chunks.first if i == 0 else chunks.last if i == last else chunks.step)
        log(time.time())
        run.generated = i + 1
        if i == 0:
            run.first_token = loop.time()


async def _break(request: web.Request, fault: str) -> None:
    """Halfway through a stream: cut its connection, or send nothing more until the client
    leaves (which cancels this handler)."""
    if fault == "stall_share":
        await asyncio.sleep(3600)
    assert request.transport is not None
    request.transport.abort()
    raise ConnectionResetError("a simulated cut")


async def _respond(
    request: web.Request,
    job: api.Job,
    run: Run,
    rid: str,
    sim: Sim,
    count: int,
    reason: str,
    times: list[float],
) -> web.Response:
    """A non-streaming answer goes out whole when its last token would have."""
    loop = asyncio.get_running_loop()
    run.first_token = max(run.first_token_at, loop.time())
    deadline = run.first_token_at + (count - 1) * sim.engine.timing.tpot
    while (delay := deadline - loop.time()) > 0:
        await asyncio.sleep(delay)
    body = api.full_response(job, rid, sim.model, count, reason)
    response = web.json_response(body)
    await response.prepare(request)
    await response.write_eof()
    times.append(time.time())
    run.generated = count
    return response


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: the system picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(options: SimOptions, port: int) -> None:
    """Serve until SIGTERM or SIGINT; print `listening on http://HOST:PORT` once ready."""
    runner = web.AppRunner(
        make_app(options),
        access_log=None,
        handle_signals=False,
        handler_cancellation=True,  # a client that leaves aborts its request, as in vLLM
        shutdown_timeout=0.1,  # SIGTERM aborts what is in flight (logged as aborts)
    )
    await runner.setup()
    sock = listen(options.host, port)
    await web.SockSite(runner, sock).start()
    host, bound = sock.getsockname()[:2]
    print(f"listening on http://{_url_host(host)}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(options: SimOptions, port: int) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options, port))
    sys.stdout.flush()
    return 0
