"""vllm-router's admin API: the one client the lab has for it (the local and Compose platforms,
resilience sampling and drains all go through here).

vllm-router 0.1.17, found by experiment and pinned by tests/stack/test_router.py:
- GET /workers: {"workers": [{"url", "is_healthy", "load", ...}], "total", "stats"}; `load` is
  the router's count of requests in flight to that worker, kept only by the policies that
  balance on it (cache_aware, power_of_two): 0 under round_robin and consistent_hash.
- GET /list_workers: {"urls": [...]}. GET /get_loads asks each worker for a load vLLM does not
  serve: always -1, so the lab does not read it.
- POST /add_worker?url=URL: 200 once the worker is healthy (it blocks while the worker does not
  answer, so engines are added only once healthy); 400 if it is already there.
- POST /remove_worker?url=URL: 200 (for an unknown URL too). The router sends the worker
  nothing new, and streams already open to it go on to their end.
- Prometheus (--prometheus-port): vllm_router_running_requests{worker=URL}, the same count as
  `load`, under the same policies; unlike /workers it goes on counting a removed worker's
  open requests until they end, which is what a drain needs.
- GET /health: 200 "All servers healthy".
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from lab.errors import StepFailed
from lab.stack import metrics

CALL_TIMEOUT = 120.0  # add_worker answers once the worker is healthy
# Policies under which vllm-router counts each worker's requests in flight.
COUNTING_POLICIES = ("cache_aware", "power_of_two")
RUNNING = "vllm_router_running_requests"


@dataclass(frozen=True)
class Worker:
    url: str
    healthy: bool
    load: int  # requests in flight, as the router counts them (0 where its policy does not)


@dataclass(frozen=True)
class Router:
    """One vllm-router: its base URL, its metrics URL ('' if unknown) and its policy."""

    url: str
    metrics: str = ""
    policy: str = ""

    @property
    def counts_load(self) -> bool:
        """Does this router count requests in flight per worker (its policy balances on it)?"""
        return self.policy in COUNTING_POLICIES and bool(self.metrics)

    def workers(self, client: httpx.Client | None = None) -> list[Worker]:
        """GET /workers. Raises httpx errors, and ValueError on an answer of another shape
        (routers without this API)."""
        getter = client or httpx
        answer = getter.get(f"{self.url}/workers", timeout=5.0)
        answer.raise_for_status()
        try:
            listed = answer.json()["workers"]
            return [
                Worker(w["url"], bool(w["is_healthy"]), int(w.get("load") or 0)) for w in listed
            ]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{self.url}/workers: unexpected answer ({exc})") from None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def add_worker(self, worker_url: str) -> str:
        """POST /add_worker; the router's own words. Raises StepFailed on any other answer."""
        return self._call("add_worker", worker_url)

    def remove_worker(self, worker_url: str) -> str:
        return self._call("remove_worker", worker_url)

    def in_flight(self, worker_url: str) -> float | None:
        """Requests the router has sent `worker_url` that have not ended (removed workers
        included); None where the router does not count them (its policy) or does not answer."""
        if not self.counts_load:
            return None
        try:
            return metrics.by_label(self.metrics, RUNNING, "worker").get(worker_url, 0.0)
        except httpx.HTTPError:
            return None

    def _call(self, action: str, worker_url: str) -> str:
        try:
            answer = httpx.post(
                f"{self.url}/{action}", params={"url": worker_url}, timeout=CALL_TIMEOUT
            )
        except httpx.HTTPError as exc:
            raise StepFailed(f"router: POST /{action}?url={worker_url}: {exc}") from None
        if answer.status_code != 200:
            raise StepFailed(
                f"router: POST /{action}?url={worker_url} answered {answer.status_code}: "
                f"{answer.text.strip()}"
            )
        return answer.text.strip()
