"""Secrets written in clear text into Helm values: where they are, and the Secret-based key of
production-stack's chart to use instead. The secret itself is never repeated in a message.

The chart (0.1.12) takes `servingEngineSpec.modelSpec[].hf_token` and
`servingEngineSpec.vllmApiKey` either as the value itself, which then sits in the values file,
the Helm release and `helm get values`, or as `{secretName, secretKey}` of an existing
Secret; env vars take `valueFrom.secretKeyRef`, or a whole Secret through `envFromSecret`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lab.files import json_path

SECRET_REF = "{secretName: NAME, secretKey: KEY} of a Secret (kubectl create secret generic)"
ADVICE = {
    "hf_token": f"a Hugging Face token in clear text: use hf_token: {SECRET_REF}",
    "vllmApiKey": f"an API key in clear text: use vllmApiKey: {SECRET_REF}",
    "routerSpec.hf_token": (
        "a token the chart writes into the router's pod spec in plain text: leave it empty, or "
        "give the router HF_TOKEN through routerSpec.env with valueFrom.secretKeyRef"
    ),
    "env": (
        "a secret-looking env var with a clear-text value: use valueFrom: {secretKeyRef: "
        "{name: NAME, key: KEY}}, or the model's envFromSecret"
    ),
    "--api-key": (
        "an API key in clear text on the engine's command line: drop --api-key and set "
        f"servingEngineSpec.vllmApiKey: {SECRET_REF}"
    ),
    "key": f"a secret-looking value in clear text: reference a Secret ({SECRET_REF}) instead",
    "shape": "looks like an access token in clear text: reference a Secret instead",
}
# Keys whose string value is a secret (not the name of one).
SECRET_KEY = re.compile(r"(?i)(token|api_?key|secret|password|passwd|credentials?)$")
NAMES_A_SECRET = re.compile(r"(?i)(secretname|secretkey|pullsecrets?|existingsecret)$")
SECRET_ENV = re.compile(r"(?i)(token|api_?key|secret|password|passwd|credentials?)")
# Shapes of common tokens: Hugging Face, OpenAI-style keys.
TOKEN_SHAPE = re.compile(r"\b(hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,})\b")


def clear_text_secrets(values: Any) -> list[tuple[str, str]]:
    """Every (json path, advice) where `values` holds a secret in clear text, one per path."""
    found: dict[str, str] = {}
    for where, advice in _walk(values, []):
        found.setdefault(where, advice)
    return sorted(found.items())


def _walk(node: Any, path: list[Any]) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        yield from _env_item(node, path)
        for key, value in node.items():
            here = [*path, key]
            if isinstance(value, str) and value and _secret_key(str(key)):
                yield json_path(here), _advice(here)
            else:
                yield from _walk(value, here)
    elif isinstance(node, list):
        yield from _command_line(node, path)
        for index, item in enumerate(node):
            yield from _walk(item, [*path, index])
    elif isinstance(node, str) and TOKEN_SHAPE.search(node):
        yield json_path(path), ADVICE["shape"]


def _secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key)) and not NAMES_A_SECRET.search(key)


def _advice(path: list[Any]) -> str:
    key = str(path[-1])
    if path[:1] == ["routerSpec"] and key == "hf_token":
        return ADVICE["routerSpec.hf_token"]
    return ADVICE.get(key, ADVICE["key"])


def _env_item(item: dict[str, Any], path: list[Any]) -> Iterator[tuple[str, str]]:
    """{name: HF_TOKEN, value: '...'}: a Kubernetes EnvVar holding a secret in clear text."""
    name, value = item.get("name"), item.get("value")
    if isinstance(name, str) and SECRET_ENV.search(name) and isinstance(value, str) and value:
        yield json_path([*path, "value"]), ADVICE["env"]


def _command_line(args: list[Any], path: list[Any]) -> Iterator[tuple[str, str]]:
    """--api-key KEY or --api-key=KEY among a list of arguments (vllmConfig.extraArgs)."""
    for index, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        given_next = arg == "--api-key" and index + 1 < len(args)
        if given_next or arg.startswith("--api-key="):
            yield json_path([*path, index]), ADVICE["--api-key"]
