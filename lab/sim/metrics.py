"""The simulated engine's /metrics: the vLLM names, labels and buckets the lab reads.

Names as vLLM 0.32 registers them (vllm/v1/metrics/loggers.py): counters are created without
`_total`, which prometheus_client appends when it exposes them, so the page says exactly
`vllm:request_success_total` etc. Labels `model_name` and `engine` ("0"), as one vLLM engine
has. Each app has its own registry, so several sims in one process never share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lab.sim.run import Run

LABELS = ("model_name", "engine")
FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
                   60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
TOKEN_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SimMetrics:
    """The engine's counters, gauges and histograms, one labelled child each."""

    def __init__(self, model_name: str) -> None:
        self.registry = CollectorRegistry()
        values = (model_name, "0")

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, LABELS, registry=self.registry).labels(*values)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, LABELS, registry=self.registry).labels(*values)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            made = Histogram(name, doc, LABELS, registry=self.registry, buckets=buckets)
            return made.labels(*values)

        self.running = gauge("vllm:num_requests_running", "Requests in the batch.")
        self.waiting = gauge("vllm:num_requests_waiting", "Requests queued for a batch slot.")
        self.kv_usage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent.")
        self.prefix_queries = counter("vllm:prefix_cache_queries", "Prefix cache queries, tokens.")
        self.prefix_hits = counter("vllm:prefix_cache_hits", "Prefix cache hits, tokens.")
        self.prompt_tokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        self.generation_tokens = counter("vllm:generation_tokens", "Generation tokens processed.")
        success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            (*LABELS, "finished_reason"),
            registry=self.registry,
        )
        self.success = {reason: success.labels(*values, reason) for reason in FINISH_REASONS}
        self.ttft = histogram(
            "vllm:time_to_first_token_seconds", "Time to first token.", TTFT_BUCKETS
        )
        self.e2e = histogram(
            "vllm:e2e_request_latency_seconds", "End-to-end request latency.", LATENCY_BUCKETS
        )
        self.queue_time = histogram(
            "vllm:request_queue_time_seconds", "Time spent waiting for a slot.", LATENCY_BUCKETS
        )
        self.request_prompt = histogram(
            "vllm:request_prompt_tokens", "Prompt tokens per request.", TOKEN_BUCKETS
        )
        self.request_generation = histogram(
            "vllm:request_generation_tokens", "Generated tokens per request.", TOKEN_BUCKETS
        )

    def admitted(self, prompt_tokens: int, cached: int, caching: bool, queued: float) -> None:
        """Counted at admission, as vLLM's scheduler counts prefill and cache lookups."""
        self.prompt_tokens.inc(prompt_tokens)
        if caching:
            self.prefix_queries.inc(prompt_tokens)
            self.prefix_hits.inc(cached)
        self.queue_time.observe(queued)

    def finished(self, run: Run, now: float, prompts: int) -> None:
        """One finished request (each prompt of a batch counts, as each is a vLLM request)."""
        self.generation_tokens.inc(run.generated * prompts)
        self.success[run.finished_reason].inc(prompts)
        self.request_prompt.observe(run.prompt_tokens)
        self.request_generation.observe(run.generated)
        if run.first_token is not None:
            self.ttft.observe(run.first_token - run.arrival)
        self.e2e.observe(now - run.arrival)

    def render(self) -> bytes:
        return generate_latest(self.registry)
