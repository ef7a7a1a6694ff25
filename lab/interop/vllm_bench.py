"""`vllm bench serve`'s saved results (--save-result, with --save-detailed its per-request
arrays), read into the lab's terms and written from a lab run.

Its definitions are the lab's (vllm/benchmarks/serve.py, calculate_metrics): TTFT from sending
the request to its first chunk with a choice, whose text may be empty (lab.inproc.streaming);
TPOT (latency - TTFT) / (output tokens - 1), so
without the first token, over requests of more than one output token; ITL every gap between
chunks after the first, pooled; E2E the request's latency. Its goodput counts requests within
--goodput limits that the file does not record, so it is not the lab's (a request within the
profile's SLO) and stays n/a.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from lab import files
from lab.errors import ConfigError
from lab.interop.imported import Imported, row
from lab.results.level import PERCENTILES
from lab.results.summary import Sample

TOOL = "vllm-bench"
# The per-request arrays of --save-detailed, one entry per request each.
DETAILED = ("start_times", "ttfts", "itls", "latencies", "input_lens", "output_lens", "errors")
SUMMARY_KEYS = ("completed", "duration")  # every --save-result file of vLLM 0.6 on has them
SETTINGS = (
    "backend", "label", "model_id", "tokenizer_id", "num_prompts", "request_rate",
    "burstiness", "max_concurrency", "ramp_up_strategy", "ramp_up_start_rps", "ramp_up_end_rps",
)  # fmt: skip
SAME = "as the lab's"
DEFINITIONS = {
    "ttft": f"{SAME}: from sending the request to its first chunk with a choice, text or not",
    "tpot": f"{SAME}: (latency - TTFT) / (output tokens - 1), without the first token",
    "itl": f"{SAME}: each gap between chunks after the first, pooled",
    "e2e": f"{SAME}: the request's latency",
    "goodput": "not the lab's: requests within --goodput limits the file does not record",
}
GOODPUT = "vllm bench's goodput counts requests within --goodput limits it does not save"
DATE = "%Y%m%d-%H%M%S"  # its "date", local time when the result was saved


def read(path: Path, per_request: bool = False) -> Imported:
    """A --save-result file; `per_request` refuses one without --save-detailed's arrays."""
    data = files.read_json(path, "vllm bench result")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, as vllm bench serve --save-result")
    for key in SUMMARY_KEYS:
        _number(data, key, path)
    # Without --save-detailed it still saves latencies: the other arrays say it was given.
    detailed = [key for key in DETAILED if key in data and key != "latencies"]
    if not detailed and per_request:
        raise ConfigError(
            f"{path}: no per-request arrays ({', '.join(DETAILED)}): saved without "
            "--save-detailed, it holds summary figures only"
        )
    ended = _date(data, path)
    started = ended - timedelta(seconds=float(data["duration"]))
    found = Imported(
        tool=TOOL,
        version=str(data.get("vllm_version", "")),
        source=path,
        settings={key: data[key] for key in SETTINGS if key in data},
        started=started,
        ended=ended,
        rows=None,
        figures={},
        definitions=DEFINITIONS,
        not_applicable={"goodput": GOODPUT},
    )
    if detailed:
        return replace(found, rows=_rows(data, path, started))
    figures, missing = _summary(data, path)
    note = (
        "saved without --save-detailed: summary figures only; compare has no requests to "
        "judge, so its metrics of this level are n/a"
    )
    return replace(found, figures=figures, not_applicable=missing, notes=(note,))


def _number(data: dict[str, Any], key: str, path: Path) -> float:
    if key not in data:
        raise ConfigError(f"{path}: no {key!r} key, which vllm bench serve --save-result writes")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{path}: {key}: expected a number of at least 0, not {value!r}")
    return float(value)


def _date(data: dict[str, Any], path: Path) -> datetime:
    """When the result was saved (its end), taken as UTC: the file does not say its zone."""
    text = data.get("date")
    try:
        return datetime.strptime(str(text), DATE).replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{path}: date: expected YYYYMMDD-HHMMSS, not {text!r}") from None


def _arrays(data: dict[str, Any], path: Path) -> dict[str, list[Any]]:
    missing = [key for key in DETAILED if key not in data]
    if missing:
        raise ConfigError(f"{path}: per-request arrays without {', '.join(missing)}")
    arrays = {key: data[key] for key in DETAILED}
    wrong = [key for key, value in arrays.items() if not isinstance(value, list)]
    if wrong:
        raise ConfigError(f"{path}: {', '.join(wrong)}: expected a list per request")
    lengths = {key: len(value) for key, value in arrays.items()}
    if len(set(lengths.values())) > 1:
        said = ", ".join(f"{key} {n}" for key, n in lengths.items())
        raise ConfigError(f"{path}: per-request arrays of unequal lengths ({said})")
    return arrays


def _rows(data: dict[str, Any], path: Path, started: datetime) -> list[dict[str, str]]:
    """requests.csv's rows. Its start times are a monotonic clock's: they keep their spacing,
    placed from the run's start."""
    arrays = _arrays(data, path)
    starts = [_seconds(v, f"start_times[{i}]", path) for i, v in enumerate(arrays["start_times"])]
    origin = min(starts, default=0.0)
    out = []
    for i, start in enumerate(starts):
        where = f"[{i}]"
        error = arrays["errors"][i]
        ok = not error
        gaps = arrays["itls"][i]
        if not isinstance(gaps, list):
            raise ConfigError(f"{path}: itls{where}: expected a list of gaps in seconds")
        ttft = _seconds(arrays["ttfts"][i], f"ttfts{where}", path) * 1000
        e2e = _seconds(arrays["latencies"][i], f"latencies{where}", path) * 1000
        output = int(_seconds(arrays["output_lens"][i], f"output_lens{where}", path))
        prompt = int(_seconds(arrays["input_lens"][i], f"input_lens{where}", path))
        itl = [_seconds(g, f"itls{where}", path) * 1000 for g in gaps]
        tpot = (e2e - ttft) / (output - 1) if ok and output > 1 else None
        out.append(
            row(
                request_id=str(i),
                start_time=f"{started.timestamp() + start - origin:.6f}",
                prompt_tokens=str(prompt),
                output_tokens=str(output),
                ttft_ms=_ms(ttft) if ok else "",
                tpot_ms=_ms(tpot) if tpot is not None else "",
                itl_ms_mean=_ms(float(np.mean(itl))) if ok and itl else "",
                e2e_ms=_ms(e2e) if ok else "",
                status="ok" if ok else "error",
                error=str(error)[:200],
                phase="run",
                itl_ms=";".join(_ms(g) for g in itl) if ok else "",
            )
        )
    return out


def _seconds(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{path}: {where}: expected a number of at least 0, not {value!r}")
    return float(value)


def _ms(value: float) -> str:
    return f"{value:.6f}"


def _summary(data: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """summary.json's figures from the file's own, and the figures it lacks, each with why."""
    completed = _number(data, "completed", path)
    failed = _number(data, "failed", path) if "failed" in data else 0.0
    duration = _number(data, "duration", path)
    missing: dict[str, str] = {"goodput": GOODPUT}
    figures: dict[str, Any] = {
        "requests": int(completed + failed),
        "completed": int(completed),
        "failed": int(failed),
        "drained": 0,
        "error_rate": failed / (completed + failed) if completed + failed else 0.0,
        "duration_s": duration,
        "requests_per_s": data.get("request_throughput"),
        "output_tokens_per_s": data.get("output_throughput"),
        "goodput_rps": None,
    }
    for family, theirs in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el")):
        for statistic, key in (("mean", f"mean_{theirs}_ms"), *_percentiles(theirs)):
            ours = f"{statistic}_{family}_ms"
            figures[ours] = data.get(key)
            if key not in data:
                missing[ours] = f"the file has no {key} (not in --metric-percentiles)"
    return figures, missing


def _percentiles(theirs: str) -> list[tuple[str, str]]:
    """Each lab percentile and the key vllm bench saves it under (p50 is its median)."""
    return [
        (f"p{p}", f"median_{theirs}_ms" if p == 50 else f"p{p}_{theirs}_ms") for p in PERCENTILES
    ]


def export(samples: Sequence[Sample], settings: dict[str, Any]) -> dict[str, Any]:
    """A level's requests in --save-result --save-detailed's format, with its summary figures
    computed as vllm bench serve computes them (calculate_metrics)."""
    ok = [s for s in samples if s.ok]
    first = min((s.start for s in samples), default=0.0)
    last = max((s.end for s in samples), default=first)
    duration = last - first
    output = sum(s.output_tokens for s in ok)
    prompt = sum(s.prompt_tokens for s in ok)
    out: dict[str, Any] = {
        "date": datetime.fromtimestamp(first, UTC).strftime(DATE),
        **settings,
        "num_prompts": len(samples),
        "duration": duration,
        "completed": len(ok),
        "failed": len(samples) - len(ok),
        "total_input_tokens": prompt,
        "total_output_tokens": output,
        "request_throughput": len(ok) / duration if duration else 0.0,
        "request_goodput": None,
        "output_throughput": output / duration if duration else 0.0,
        "total_token_throughput": (prompt + output) / duration if duration else 0.0,
        "input_lens": [s.prompt_tokens for s in samples],
        "output_lens": [s.output_tokens if s.ok else 0 for s in samples],
        "ttfts": [(s.ttft_ms or 0.0) / 1000 if s.ok else 0.0 for s in samples],
        "itls": [[g / 1000 for g in s.itl_ms] if s.ok else [] for s in samples],
        "latencies": [(s.e2e_ms or 0.0) / 1000 if s.ok else 0.0 for s in samples],
        "start_times": [s.start for s in samples],
        "generated_texts": ["" for _ in samples],
        "errors": [s.error or s.failure or "error" if not s.ok else "" for s in samples],
    }
    tpots = [(s.tpot_ms or 0.0) for s in ok if s.output_tokens > 1 and s.tpot_ms is not None]
    pooled = {
        "ttft": [s.ttft_ms or 0.0 for s in ok],
        "tpot": tpots,
        "itl": [g for s in ok for g in s.itl_ms],
        "e2el": [s.e2e_ms or 0.0 for s in ok],
    }
    for name, values in pooled.items():
        out.update(_statistics(name, values))
    return out


def _statistics(name: str, values: list[float]) -> dict[str, float]:
    """Mean, median, standard deviation and percentiles as vllm bench saves them (of 0 when
    there are no values, as it does)."""
    data = values or [0.0]
    out = {
        f"mean_{name}_ms": float(np.mean(data)),
        f"median_{name}_ms": float(np.median(data)),
        f"std_{name}_ms": float(np.std(data)),
    }
    out.update({f"p{p}_{name}_ms": float(np.percentile(data, p)) for p in PERCENTILES})
    return out
