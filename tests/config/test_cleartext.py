"""Secrets in clear text in Helm values are found, pointed to the chart's Secret-based keys, and
never repeated; references to Secrets and the lab's own rendered values pass."""

from __future__ import annotations

import pytest

from lab.config import profile, values
from lab.config.cleartext import clear_text_secrets

TOKEN = "hf_" + "a1" * 17
REF = {"name": "a-secret", "key": "token"}
PASSWORD = {"extraObjects": [{"data": {"password": "p"}}]}


def engine(**fields) -> dict:
    return {"servingEngineSpec": {"modelSpec": [{"name": "m", **fields}]}}


@pytest.mark.parametrize(
    ("document", "path", "advice"),
    [
        (engine(hf_token=TOKEN), "servingEngineSpec.modelSpec[0].hf_token", "hf_token: {secret"),
        ({"servingEngineSpec": {"vllmApiKey": "k"}}, "servingEngineSpec.vllmApiKey", "vllmApiKey:"),
        ({"routerSpec": {"hf_token": "t"}}, "routerSpec.hf_token", "routerSpec.env with valueFrom"),
        (
            engine(env=[{"name": "VLLM_API_KEY", "value": "k"}]),
            "servingEngineSpec.modelSpec[0].env[0].value",
            "valueFrom: {secretKeyRef",
        ),
        (
            engine(vllmConfig={"extraArgs": ["--api-key=k"]}),
            "servingEngineSpec.modelSpec[0].vllmConfig.extraArgs[0]",
            "drop --api-key and set servingEngineSpec.vllmApiKey",
        ),
        (PASSWORD, "extraObjects[0].data.password", "reference a Secret"),
        ({"routerSpec": {"extraArgs": [f"--x={TOKEN}"]}}, "routerSpec.extraArgs[0]", "token"),
    ],
)
def test_a_clear_text_secret_is_found_with_the_key_to_use(document, path, advice) -> None:
    (found,) = clear_text_secrets(document)
    assert found[0] == path and advice in found[1]
    assert TOKEN not in found[1] and "'k'" not in found[1]


@pytest.mark.parametrize(
    "document",
    [
        engine(hf_token={"secretName": "hf", "secretKey": "token"}),
        {"servingEngineSpec": {"vllmApiKey": {"secretName": "", "secretKey": ""}}},
        engine(imagePullSecret="registry-credentials", envFromSecret={"name": "tokens"}),
        engine(env=[{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": REF}}]),
        {"routerSpec": {"sessionKey": "x-user-id", "hf_token": ""}},
        engine(vllmConfig={"extraArgs": ["--tokenizer", "gpt2"]}),
    ],
)
def test_references_and_look_alikes_pass(document) -> None:
    assert clear_text_secrets(document) == []


def test_the_labs_own_values_hold_no_secret(monkeypatch) -> None:
    monkeypatch.setenv("LAB_TEST_KEY", "a key")
    lab = profile.load("gpu", ["engine.api_key_env=LAB_TEST_KEY"])
    assert clear_text_secrets(values.render(lab, "minikube", hf_token=True)) == []
