"""GuideLLM's benchmarks.json (`guidellm run --output kind=json`), read into the lab's terms:
one benchmark (one strategy: a concurrency or a rate), per request where the file keeps its
requests.

Its definitions against the lab's: its time_to_first_token_ms is the lab's TTFT (from sending
the request to the first token); its inter_token_latency_ms, (latency - TTFT) / (output
tokens - 1), is the lab's TPOT, while its own time_per_output_token_ms counts the first token
in and is not; it keeps no gap between chunks, so ITL is n/a; request_latency is the lab's E2E;
its goodput is judged by its own SLO and stays n/a.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import files
from lab.errors import ConfigError
from lab.interop.imported import Imported, row

TOOL = "guidellm"
DEFINITIONS = {
    "ttft": "as the lab's: time_to_first_token_ms, from sending the request to the first token",
    "tpot": "as the lab's: inter_token_latency_ms, without the first token (its "
    "time_per_output_token_ms counts the first token in, and is not used)",
    "itl": "not kept: GuideLLM records no gap between chunks per request",
    "e2e": "as the lab's: request_latency",
    "goodput": "not the lab's: judged by GuideLLM's own SLO",
}
NOT_APPLICABLE = {
    "itl": "GuideLLM's benchmarks.json keeps no gap between chunks",
    "goodput": "GuideLLM judges goodput by its own SLO, not the profile's",
}
STATUSES = ("successful", "errored", "incomplete")  # its requests, by how they ended


def read(path: Path, per_request: bool = False) -> Imported:
    """benchmarks.json of one benchmark; its requests are always per request (`per_request`
    asks nothing more of it)."""
    data = files.read_json(path, "GuideLLM benchmarks.json")
    benchmarks = _key(data, "benchmarks", list, path)
    if len(benchmarks) != 1:
        raise ConfigError(
            f"{path}: benchmarks: {len(benchmarks)} benchmarks; lab import takes a file of one "
            "(one GuideLLM strategy, a concurrency or a rate)"
        )
    benchmark = benchmarks[0]
    if not isinstance(benchmark, dict):
        raise ConfigError(f"{path}: benchmarks[0]: expected an object")
    metadata = _key(data, "metadata", dict, path)
    requests = _key(benchmark, "requests", dict, path, "benchmarks[0].")
    rows: list[dict[str, str]] = []
    for status in STATUSES:
        found = _key(requests, status, list, path, "benchmarks[0].requests.")
        rows += [_row(r, status, path, f"{status}[{i}]") for i, r in enumerate(found)]
    if not rows:
        raise ConfigError(f"{path}: benchmarks[0].requests: no request kept")
    notes = _sampled(benchmark, len(rows))
    return Imported(
        tool=TOOL,
        version=str(metadata.get("guidellm_version", "")),
        source=path,
        settings=_settings(benchmark),
        started=_time(benchmark, "start_time", path),
        ended=_time(benchmark, "end_time", path),
        rows=rows,
        figures={},
        definitions=DEFINITIONS,
        not_applicable=NOT_APPLICABLE,
        notes=notes,
    )


def _key(data: Any, key: str, kind: type, path: Path, where: str = "") -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ConfigError(f"{path}: no {where}{key} key, which GuideLLM's benchmarks.json has")
    value = data[key]
    if not isinstance(value, kind):
        raise ConfigError(
            f"{path}: {where}{key}: expected {'a list' if kind is list else 'an object'}"
        )
    return value


def _number(request: dict[str, Any], key: str, path: Path, where: str) -> float | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{path}: requests.{where}.{key}: expected a number of at least 0")
    return float(value)


def _row(request: Any, status: str, path: Path, where: str) -> dict[str, str]:
    if not isinstance(request, dict):
        raise ConfigError(f"{path}: requests.{where}: expected an object")
    start = _number(request, "request_start_time", path, where)
    if start is None:
        raise ConfigError(f"{path}: requests.{where}: no request_start_time key")
    ok = status == "successful"
    ttft = _number(request, "time_to_first_token_ms", path, where)
    tpot = _number(request, "inter_token_latency_ms", path, where)
    latency = _number(request, "request_latency", path, where)
    prompt = _number(request, "prompt_tokens", path, where) or 0
    output = _number(request, "output_tokens", path, where) or 0
    info = _object(request.get("info"))
    return row(
        request_id=str(request.get("request_id", "")),
        start_time=f"{start:.6f}",
        prompt_tokens=str(int(prompt)),
        output_tokens=str(int(output)),
        ttft_ms=f"{ttft:.6f}" if ok and ttft is not None else "",
        tpot_ms=f"{tpot:.6f}" if ok and tpot is not None and output > 1 else "",
        e2e_ms=f"{latency * 1000:.6f}" if ok and latency is not None else "",
        status="ok" if ok else "error",
        error="" if ok else str(info.get("error") or status)[:200],
        phase="run",
    )


def _sampled(benchmark: dict[str, Any], kept: int) -> tuple[str, ...]:
    """A note when GuideLLM kept a sample of the requests rather than all of them."""
    total = _object(_object(benchmark.get("metrics")).get("request_totals")).get("total")
    if isinstance(total, int) and total > kept:
        return (f"GuideLLM kept {kept} of {total} requests; the figures are of those kept",)
    return ()


def _settings(benchmark: dict[str, Any]) -> dict[str, Any]:
    config = _object(benchmark.get("config"))
    return {key: config[key] for key in ("strategy", "constraints") if key in config}


def _object(value: Any) -> dict[str, Any]:
    """A part of the file that is an object, or an empty one: a part it may lack."""
    return value if isinstance(value, dict) else {}


def _time(benchmark: dict[str, Any], key: str, path: Path) -> datetime:
    value = _number(benchmark, key, path, "")
    if value is None:
        raise ConfigError(f"{path}: no benchmarks[0].{key} key")
    return datetime.fromtimestamp(value, UTC)
