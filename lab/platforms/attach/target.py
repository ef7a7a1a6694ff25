"""The `target:` block of a profile, read and checked as input (ConfigError, exit 2): URLs
that are http(s)://host[:port] and nothing else, no credentials in them, engines named once,
the token only as the name of a variable."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import ConfigError


@dataclass(frozen=True)
class Target:
    router: str
    engines: tuple[str, ...]
    prometheus: str
    api_key_env: str
    ca_bundle: str
    verify: bool
    kubernetes: bool = False  # router and engines: the release named in `kubernetes:`
    router_metrics: str = ""  # vllm-router's own metrics (its --prometheus-port), base URL

    @property
    def tls(self) -> str | bool:
        """What httpx verifies certificates with."""
        return self.ca_bundle or self.verify

    @property
    def headers(self) -> dict[str, str]:
        token = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {token}"} if token else {}


def read(resolved: dict[str, Any], source: str) -> Target:
    """The profile's target, every problem found at once."""
    block = resolved.get("target", {})
    problems: list[str] = []
    kubernetes = bool(block.get("kubernetes", False))
    router = _url(
        block.get("router", ""), f"{source}: target.router", problems, required=not kubernetes
    )
    if kubernetes and (block.get("router") or block.get("engines")):
        problems.append(
            f"{source}: target.kubernetes: true finds the router and engines of the release; "
            "expected no target.router or target.engines beside it"
        )
    engines = tuple(
        _url(url, f"{source}: target.engines[{i}]", problems)
        for i, url in enumerate(block.get("engines", []))
    )
    problems += [
        f"{source}: target.engines: {url} is named twice; expected each engine once"
        for url in sorted({u for u in engines if u and engines.count(u) > 1})
    ]
    prometheus = _url(block.get("prometheus", ""), f"{source}: target.prometheus", problems)
    metrics = _url(block.get("router_metrics", ""), f"{source}: target.router_metrics", problems)
    tls = block.get("tls", {})
    bundle = tls.get("ca_bundle", "")
    if bundle and not Path(bundle).is_file():
        problems.append(f"{source}: target.tls.ca_bundle: {bundle} is not a file; expected PEM")
    name = block.get("api_key_env", "")
    if name and not os.environ.get(name):
        problems.append(
            f"{source}: target.api_key_env: ${name} is not set; expected the variable that "
            "holds the bearer token"
        )
    if problems:
        raise ConfigError(problems)
    verify = tls.get("verify", True)
    return Target(router, engines, prometheus, name, bundle, verify, kubernetes, metrics)


def _url(text: str, where: str, problems: list[str], required: bool = False) -> str:
    """`text` as a base URL without its trailing slash; "" when it is not one (said)."""
    if not text:
        if required:
            problems.append(
                f"{where}: missing; expected the router's URL (e.g. --target URL), or "
                "target.kubernetes: true to find the release named in kubernetes:"
            )
        return ""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{where}: not an http(s) URL; expected http(s)://host[:port]")
        return ""
    if parts.username is not None or parts.password is not None:
        # The URL is not echoed: what it carries may be a password.
        problems.append(
            f"{where}: a user or password in the URL is refused; put the token in an "
            "environment variable and name it in target.api_key_env"
        )
        return ""
    if parts.path.strip("/") or parts.query or parts.fragment:
        problems.append(
            f"{where}: {text}: a path, query or fragment where none belongs; expected "
            "http(s)://host[:port] (the lab adds /v1 and /metrics itself)"
        )
        return ""
    shown = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{shown}" + (f":{port}" if port else "")


def loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
