"""The lab's Grafana dashboards: valid JSON, PromQL that only names metrics the engines or the
chart's router export, and their way into the cluster through the chart's extraObjects."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from lab.config import dashboards, profile, values
from lab.config.validation import violations

# What vLLM's engines export (vllm/v1/metrics/loggers.py; counters get _total, histograms
# _bucket/_sum/_count), as the dashboards may use it.
ENGINE_GAUGES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
)
ENGINE_COUNTERS = (
    "vllm:request_success",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:prefix_cache_hits",
    "vllm:prefix_cache_queries",
)
ENGINE_HISTOGRAMS = (
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
)
# What production-stack's router exports (reference: production-stack.md, section 2).
ROUTER_METRICS = (
    "vllm:num_requests_running",
    "vllm:current_qps",
    "vllm:avg_latency",
    "vllm:avg_itl",
    "vllm:healthy_pods_total",
    "vllm:num_incoming_requests_total",
    "vllm:input_tokens_total",
    "vllm:output_tokens_total",
    "vllm:request_errors_total",
    "router_cpu_usage_percent",
    "router_memory_usage_percent",
)
ROUTER_HISTOGRAMS = ("vllm:request_latency_seconds",)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
KNOWN = (
    set(ENGINE_GAUGES)
    | {f"{name}_total" for name in ENGINE_COUNTERS}
    | {
        name + suffix
        for name in ENGINE_HISTOGRAMS + ROUTER_HISTOGRAMS
        for suffix in HISTOGRAM_SUFFIXES
    }
    | set(ROUTER_METRICS)
)
PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "rate", "irate", "increase", "histogram_quantile",
    "scalar", "vector", "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "clamp_min", "clamp_max", "topk", "bottomk", "abs", "offset", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, groupings and
    function names taken out)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)} - PROMQL_WORDS


def all_dashboards() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in dashboards.files()]


def exprs(board: dict) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_there_are_engine_and_router_dashboards() -> None:
    assert [path.name for path in dashboards.files()] == ["engines.json", "router.json"]


@pytest.mark.parametrize("path", dashboards.files(), ids=lambda p: p.name)
def test_each_dashboard_is_valid_grafana_json(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"].startswith("vLLM Lab / ")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and ids
    for panel in board["panels"]:
        assert panel["title"] and panel["description"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "engine_job", "router_job"} <= variables


@pytest.mark.parametrize("path", dashboards.files(), ids=lambda p: p.name)
def test_promql_names_only_metrics_that_exist(path: Path) -> None:
    board = json.loads(path.read_text())
    for expr in exprs(board):
        unknown = metric_names(expr) - KNOWN
        assert not unknown, f"{path.name}: {expr} reads {unknown}"


def test_the_panels_cover_what_the_issue_asks_for() -> None:
    used = set().union(*(metric_names(e) for _, board in all_dashboards() for e in exprs(board)))
    for needed in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:generation_tokens_total",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_hits_total",
        "vllm:prefix_cache_queries_total",
        "vllm:request_success_total",  # per-engine request share
        "vllm:current_qps",  # the router's share per engine
        "vllm:request_latency_seconds_bucket",
    ):
        assert needed in used, needed


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket"
        '{job=~"$engine_job"}[$__rate_interval]))) / scalar(sum(vllm:current_qps{a="b"}))'
    )
    assert metric_names(expr) == {"vllm:e2e_request_latency_seconds_bucket", "vllm:current_qps"}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
def test_engine_metric_names_are_those_vllm_defines() -> None:
    spec = importlib.util.find_spec("vllm")
    source = (Path(spec.origin).parent / "v1" / "metrics" / "loggers.py").read_text()
    defined = dict(
        (name, kind)
        for kind, name in re.findall(
            r'_(gauge|counter|histogram)_cls\(\s*name="(vllm:\w+)"', source
        )
    )
    for name in ENGINE_GAUGES:
        assert defined.get(name) == "gauge", name
    for name in ENGINE_COUNTERS:
        assert defined.get(name) == "counter", name
    for name in ENGINE_HISTOGRAMS:
        assert defined.get(name) == "histogram", name


# --- into the cluster --------------------------------------------------------------------------


def test_dashboards_ride_in_extra_objects_when_grafana_is_on() -> None:
    rendered = values.render(profile.load("gpu"), "minikube")
    assert violations(rendered, "vllm-stack-values") == []
    maps = rendered["extraObjects"]
    assert [m["metadata"]["name"] for m in maps] == [
        "vllm-lab-dashboard-engines",
        "vllm-lab-dashboard-router",
    ]
    for config_map, (path, board) in zip(maps, all_dashboards(), strict=True):
        assert config_map["kind"] == "ConfigMap"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (text,) = config_map["data"].values()
        assert json.loads(dashboards.unescape(text)) == board
        assert list(config_map["data"]) == [path.name]


def test_no_dashboards_without_grafana() -> None:
    assert "extraObjects" not in values.render(profile.load("cpu"), "kind")


def test_release_names_the_config_maps() -> None:
    rendered = values.render(profile.load("gpu", ["kubernetes.release=lab2"]), "minikube")
    assert rendered["extraObjects"][0]["metadata"]["name"] == "lab2-lab-dashboard-engines"


def test_escaping_leaves_helm_tpl_nothing_to_interpret() -> None:
    for path in dashboards.files():
        text = path.read_text()
        escaped = dashboards.escape_for_tpl(text)
        assert dashboards.unescape(escaped) == text
        # Every action is one that prints a quoted string; nothing else looks like one.
        actions = re.findall(r'\{\{ "[^"]*" \}\}', escaped)
        assert set(actions) == {'{{ "{{" }}', '{{ "}}" }}'}
        rest = re.sub(r'\{\{ "[^"]*" \}\}', "", escaped)
        assert "{{" not in rest and "}}" not in rest
