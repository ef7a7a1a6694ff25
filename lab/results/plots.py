"""The report's plots of load and what it did to the stack: latency, goodput and SLO attainment
against the offered rate (the SLO, the capacity bracket and the capacity marked), the engines'
gauges over time, and the throughput-latency Pareto view of closed-loop levels (as
`vllm bench sweep plot_pareto`: output tokens/s per user against in all). Each plot is rendered
from a results folder's files alone and returned as a base64 PNG.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed

from lab.results import series

Figures = dict[str, dict[str, Any]]  # summary.json's levels: name -> figures
LATENCY_TITLES = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "E2E"}


def png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _open_loop(figures: Figures) -> list[dict[str, Any]]:
    """Open-loop levels, by offered rate."""
    levels = [f for f in figures.values() if f.get("offered_rps")]
    return sorted(levels, key=lambda f: f["offered_rps"])


def _mark(ax: Any, capacity: dict[str, Any] | None) -> None:
    """The capacity search's bracket (shaded) and capacity (a line), where there is one."""
    if not capacity:
        return
    low, high = capacity["bracket"]["pass_rps"], capacity["bracket"]["fail_rps"]
    if low is not None and high is not None:
        ax.axvspan(low, high, color="tab:orange", alpha=0.15, label="bracket")
    if capacity["capacity_rps"] is not None:
        ax.axvline(capacity["capacity_rps"], color="tab:orange", label="capacity")
    elif capacity["capacity_at_least_rps"] is not None:
        ax.axvline(capacity["capacity_at_least_rps"], color="tab:orange", linestyle=":",
                   label="capacity at least")  # fmt: skip


def latency_vs_rate(figures: Figures, slo: dict[str, Any] | None, capacity: dict | None) -> str:
    """Percentiles of each latency the SLO limits (TTFT and E2E without one) against the
    offered rate, each limit drawn."""
    levels = _open_loop(figures)
    if not levels:
        return ""
    limited = [m for m in LATENCY_TITLES if slo and slo.get(f"{m}_ms") is not None]
    metrics = limited or ["ttft", "e2e"]
    fig = Figure(figsize=(6, 2.6 * len(metrics)))
    axes = np.atleast_1d(fig.subplots(len(metrics), 1, sharex=True))
    rates = [f["offered_rps"] for f in levels]
    for ax, metric in zip(axes, metrics, strict=True):
        for p in (50, 90, 99):
            values = [f.get(f"p{p}_{metric}_ms") for f in levels]
            ax.plot(rates, [np.nan if v is None else v for v in values], marker="o", label=f"p{p}")
        if slo and slo.get(f"{metric}_ms") is not None:
            ax.axhline(slo[f"{metric}_ms"], color="r", linestyle="--", label="SLO")
        _mark(ax, capacity)
        ax.set(ylabel=f"{LATENCY_TITLES[metric]} ms")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("Latency against offered rate")
    axes[-1].set_xlabel("offered requests/s")
    return png(fig)


def goodput_vs_rate(figures: Figures, slo: dict[str, Any] | None, capacity: dict | None) -> str:
    """Goodput and throughput against the offered rate (above), SLO attainment (below)."""
    levels = [f for f in _open_loop(figures) if f.get("goodput_rps") is not None]
    if not levels:
        return ""
    rates = [f["offered_rps"] for f in levels]
    fig = Figure(figsize=(6, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(rates, rates, color="0.7", linestyle=":", label="offered")
    top.plot(rates, [f["requests_per_s"] for f in levels], marker="o", label="served req/s")
    top.plot(rates, [f["goodput_rps"] for f in levels], marker="o", label="goodput req/s")
    top.set(title="Goodput and SLO attainment against offered rate", ylabel="requests/s")
    bottom.plot(rates, [f["slo_attainment"] for f in levels], marker="o", label="attainment")
    if slo:
        bottom.axhline(slo["attainment"], color="r", linestyle="--", label="target")
    bottom.set(xlabel="offered requests/s", ylabel="share meeting the SLO", ylim=(-0.02, 1.02))
    for ax in (top, bottom):
        _mark(ax, capacity)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return png(fig)


def pareto(figures: Figures) -> str:
    """Closed-loop levels: output tokens/s per user against in all, the frontier joined."""
    points = [
        (f["output_tokens_per_s"] / f["users"], f["output_tokens_per_s"], name)
        for name, f in figures.items()
        if not f.get("offered_rps") and f.get("users") and f.get("output_tokens_per_s")
    ]
    if len(points) < 2:
        return ""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.scatter([p[0] for p in points], [p[1] for p in points])
    for per_user, total, name in points:
        ax.annotate(name, (per_user, total), fontsize=8, xytext=(3, 3), textcoords="offset points")
    frontier = _frontier([(p[0], p[1]) for p in points])
    ax.plot(*zip(*frontier, strict=True), color="tab:red", label="Pareto frontier")
    ax.set(
        title="Throughput against per-user speed (closed loop)",
        xlabel="output tokens/s per user",
        ylabel="output tokens/s, all users",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return png(fig)


def _frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other beats on both axes, by rising x."""
    kept = [p for p in points if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in points)]
    return sorted(kept)


def saturation(rows: list[dict[str, Any]], t0: float) -> str:
    """The engines' running and waiting requests (summed) and the highest KV-cache usage over
    the run, on the time axis of the latency-over-time plot, levels marked."""
    if not rows:
        return ""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for metric, colour in (("running", "tab:blue"), ("waiting", "tab:red")):
        times, values = series.totals(rows, metric)
        if times.size:
            ax.plot(times - t0, values, color=colour, label=f"{metric} (engines)")
    router = [r for r in rows if r["source"] == series.ROUTER and r["metric"] == "running"]
    if router:
        ax.plot([r["time"] - t0 for r in router], [r["value"] for r in router],
                color="tab:green", label="running (router)")  # fmt: skip
    kv = _highest(rows, "kv_cache_usage")
    if kv:
        twin = ax.twinx()
        twin.plot([t - t0 for t in kv], list(kv.values()), color="tab:purple", linestyle=":",
                  label="KV-cache usage (highest engine)")  # fmt: skip
        twin.set(ylabel="KV-cache usage", ylim=(0, 1.05))
        twin.legend(fontsize=7, loc="upper right")
    for level, start in _level_starts(rows).items():
        ax.axvline(start - t0, color="k", linewidth=0.5, alpha=0.4)
        ax.annotate(level, (start - t0, 0), rotation=90, fontsize=7, va="bottom")
    ax.set(title="Engine queues over time", xlabel="seconds since the first request",
           ylabel="requests")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return png(fig)


def _highest(rows: list[dict[str, Any]], metric: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for row in rows:
        if row["metric"] == metric and row["source"] != series.ROUTER:
            out[row["time"]] = max(out.get(row["time"], 0.0), row["value"])
    return dict(sorted(out.items()))


def _level_starts(rows: list[dict[str, Any]]) -> dict[str, float]:
    starts: dict[str, float] = {}
    for row in rows:
        starts.setdefault(row["level"], row["time"])
    return starts
