"""What answers at a target, asked in the order a user would debug it: the router, its
/v1/models and the model, the token, each engine and its /metrics, Prometheus. Only reads
(GET); a target that cannot be used is a StepFailed (exit 1), said in one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from lab.config.validation import schema
from lab.errors import StepFailed
from lab.platforms.attach.target import Target
from lab.stack import promql
from lab.stack.metrics import SERVED, parse

TIMEOUT = 10.0
# model.name left at the schema's default means "none chosen" on attach.
DEFAULT_MODEL = schema("lab-profile")["properties"]["model"]["properties"]["name"]["default"]


@dataclass(frozen=True)
class Found:
    model: str
    served: tuple[str, ...]
    version: str
    router_kind: RouterKind
    via_prometheus: tuple[str, ...] = ()  # engines read through target.prometheus


def probe(target: Target, model: str) -> Found:
    with httpx.Client(timeout=TIMEOUT, verify=target.tls, headers=target.headers) as http:
        served = _models(http, target.router, "router", target)
        chosen = _choose(model, served, target.router)
        via: list[str] = []  # engines this machine cannot reach: read through Prometheus
        for index, url in enumerate(target.engines):
            if target.prometheus and not _reachable(http, url):
                _in_prometheus(http, target.prometheus, url, f"target.engines[{index}]", chosen)
                via.append(url)
                continue
            engine_served = _models(http, url, f"engine {index}", target)
            if chosen not in engine_served:
                raise StepFailed(
                    f"target.engines[{index}] {url} serves {', '.join(engine_served)}, not "
                    f"{chosen}: not an engine behind this router"
                )
            _metrics(http, url, f"target.engines[{index}]")
        if target.prometheus:
            _prometheus(http, target.prometheus)
        kind = router_kind(http, target)
        return Found(chosen, served, _version(http, target.router), kind, tuple(via))


def _reachable(http: httpx.Client, url: str) -> bool:
    try:
        http.get(f"{url}/v1/models")
    except (httpx.ConnectError, httpx.TimeoutException):
        return False
    return True


def _in_prometheus(http: httpx.Client, base: str, url: str, where: str, model: str) -> None:
    """An engine this machine cannot reach, as the Prometheus that scrapes it holds it."""
    try:
        found = promql.series(base, [url], [SERVED], http)
    except httpx.HTTPError as exc:
        raise StepFailed(f"target.prometheus {base} cannot be asked: {_why(exc)}") from None
    if not found:
        raise StepFailed(
            f"{where} {url} cannot be reached from here, and target.prometheus {base} holds no "
            f"{SERVED} of instance {promql.instance(url)}: name the engines as Prometheus "
            "names its targets"
        )
    served = {s["metric"].get("model_name", model) for s in found}
    if model not in served:
        raise StepFailed(
            f"{where} {url} serves {', '.join(sorted(served))}, not {model} (as "
            f"target.prometheus {base} holds it): not an engine behind this router"
        )


def _get(http: httpx.Client, url: str, what: str) -> httpx.Response:
    try:
        return http.get(url)
    except httpx.ConnectError as exc:
        raise StepFailed(f"{what} {url} cannot be reached: {_why(exc)}") from None
    except httpx.HTTPError as exc:
        raise StepFailed(f"{what} {url} did not answer: {type(exc).__name__}") from None


def _why(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return "TLS verification failed (set target.tls.ca_bundle, or target.tls.verify: false)"
    if "name" in text.lower() and ("resolution" in text.lower() or "not known" in text.lower()):
        return "the name does not resolve"
    if "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _models(http: httpx.Client, base: str, what: str, target: Target) -> tuple[str, ...]:
    response = _get(http, f"{base}/v1/models", what)
    url = f"{base}/v1/models"
    if response.status_code in (401, 403):
        how = (
            f"the token in ${target.api_key_env} was refused"
            if target.api_key_env
            else "it wants a token: name the variable holding it in target.api_key_env"
        )
        raise StepFailed(f"{what} {url} answered {response.status_code}: {how}")
    if response.status_code == 404:
        raise StepFailed(f"{what} {url} answered 404: no OpenAI-compatible API at this URL")
    if response.status_code >= 400:
        raise StepFailed(f"{what} {url} answered {response.status_code}")
    try:
        listed = response.json()["data"]
        return tuple(str(entry["id"]) for entry in listed)
    except (ValueError, KeyError, TypeError):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise StepFailed(f"{what} {url} answered {kind}, not the OpenAI API's model list") from None


def _choose(model: str, served: tuple[str, ...], router: str) -> str:
    if model in served:
        return model
    if not served:
        raise StepFailed(f"router {router} serves no model")
    if model == DEFAULT_MODEL and len(served) == 1:
        return served[0]  # none chosen and one served: that one
    listed = ", ".join(served)
    if model == DEFAULT_MODEL:
        raise StepFailed(
            f"router {router} serves several models ({listed}): choose one with model.name"
        )
    raise StepFailed(f"model.name {model} is not served at {router} (it serves {listed})")


def _metrics(http: httpx.Client, base: str, what: str) -> None:
    response = _get(http, f"{base}/metrics", what)
    try:
        response.raise_for_status()
        parse(response.text)
    except (httpx.HTTPStatusError, ValueError) as exc:
        raise StepFailed(f"{what} {base}/metrics is not a Prometheus metrics page: {exc}") from None


def _prometheus(http: httpx.Client, base: str) -> None:
    query = f"{base}/api/v1/query"
    try:
        response = http.get(query, params={"query": 'count({__name__=~"vllm:.+"})'})
        result: list[Any] = response.json()["data"]["result"]
    except httpx.HTTPError as exc:
        raise StepFailed(f"target.prometheus {base} cannot be reached: {_why(exc)}") from None
    except (ValueError, KeyError, TypeError):
        raise StepFailed(f"target.prometheus {base} does not answer Prometheus' API") from None
    if not result:
        raise StepFailed(
            f"target.prometheus {base} holds no vllm: series: it does not scrape the engines"
        )


def _version(http: httpx.Client, router: str) -> str:
    """The server's /version, where it answers; "" otherwise (a router rarely has one)."""
    try:
        response = http.get(f"{router}/version")
        return str(response.json().get("version", "")) if response.is_success else ""
    except (httpx.HTTPError, ValueError, AttributeError):
        return ""


VLLM_ROUTER = "vllm-router"
PRODUCTION_STACK = "production-stack router"
# Series production-stack's Python router serves on its own /metrics, which no engine does.
STACK_ROUTER_SERIES = ("vllm:healthy_pods_total", "vllm:current_qps")
VLLM_ROUTER_SERIES = "vllm_router_"  # vllm-router's own, on its --prometheus-port


@dataclass(frozen=True)
class RouterKind:
    name: str  # VLLM_ROUTER, PRODUCTION_STACK or "unknown"
    told_by: str  # what answered that says so
    metrics: str  # the router's own metrics page the lab reads ("": none it can read)

    def __str__(self) -> str:
        return f"{self.name} ({self.told_by})"


def router_kind(http: httpx.Client, target: Target) -> RouterKind:
    """Which router answered: vllm-router by its admin API (/workers; its main port's /metrics
    passes an engine's page through, so vllm: series there say nothing); production-stack's
    router by the series only it serves. The lab reads vllm-router's own series, from
    target.router_metrics; production-stack's router has none of them."""
    if _json_has(http, f"{target.router}/workers", "workers"):
        if not target.router_metrics:
            return RouterKind(VLLM_ROUTER, "its /workers answers; router metrics not given", "")
        page = f"{target.router_metrics}/metrics"
        if VLLM_ROUTER_SERIES not in _text(http, page):
            raise StepFailed(
                f"target.router_metrics {page} holds no {VLLM_ROUTER_SERIES} series: not "
                "vllm-router's --prometheus-port"
            )
        return RouterKind(VLLM_ROUTER, "its /workers answers", page)
    if any(series in _text(http, f"{target.router}/metrics") for series in STACK_ROUTER_SERIES):
        return RouterKind(PRODUCTION_STACK, "its /metrics serves vllm:healthy_pods_total", "")
    return RouterKind("unknown", "neither vllm-router's /workers nor production-stack's series", "")


def _json_has(http: httpx.Client, url: str, key: str) -> bool:
    try:
        response = http.get(url)
        return response.is_success and isinstance(response.json().get(key), list)
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _text(http: httpx.Client, url: str) -> str:
    try:
        response = http.get(url)
        return response.text if response.is_success else ""
    except httpx.HTTPError:
        return ""
