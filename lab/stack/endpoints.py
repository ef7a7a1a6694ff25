"""Where a running stack answers: what every platform hands to smoke, checks and scenarios."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Engine:
    name: str
    url: str  # base URL; the OpenAI API is under /v1, metrics under /metrics

    @property
    def metrics(self) -> str:
        return f"{self.url}/metrics"


@dataclass(frozen=True)
class Endpoints:
    router: str  # base URL of the router (OpenAI API under /v1)
    engines: tuple[Engine, ...]
    model: str  # served model name
    routing: str  # the profile's routing logic (roundrobin, session, prefixaware, kvaware)
    session_key: str
    router_metrics: str = ""  # URL of the router's Prometheus metrics, if it has them
    prometheus: str = ""  # URL of a Prometheus scraping the stack, if any
    grafana: str = ""
    api_key_env: str = ""  # environment variable holding the API key, if the engines need one
    # Set where the router routes on token IDs (vllm-router): the routing scenario then sends
    # conversations as token IDs made with this tokenizer (a folder or a Hugging Face id).
    tokenizer: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def api_key(self) -> str:
        """The key clients send ('EMPTY' when the engines need none, as the openai client wants)."""
        return (os.environ.get(self.api_key_env) if self.api_key_env else None) or "EMPTY"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Endpoints:
        engines = tuple(Engine(**engine) for engine in data["engines"])
        return cls(**{**data, "engines": engines, "notes": tuple(data.get("notes", ()))})
