from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest

from lab.config import model, profile
from lab.errors import ConfigError, LabError
from lab.inproc import chat_tokens


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_tiny_model_is_deterministic_and_cached(engines_installed, tmp_path) -> None:
    first, made = model.ensure_tiny(tmp_path / "a")
    assert made
    second, _ = model.ensure_tiny(tmp_path / "b")
    assert digest(first) == digest(second)
    assert model.ensure_tiny(first) == (first, False)  # cached: not made again


def test_tiny_model_fits_vllm_cpu(engines_installed, tmp_path) -> None:
    folder, _ = model.ensure_tiny(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] >= 64  # CPU attention needs it
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (folder / "chat_template.jinja").exists() or "chat_template" in (
        folder / "tokenizer_config.json"
    ).read_text()
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10 * 2**20


def test_a_model_from_another_recipe_is_made_again(engines_installed, tmp_path) -> None:
    folder, _ = model.ensure_tiny(tmp_path / "m")
    (folder / model.RECIPE_FILE).write_text("older-recipe\n")
    assert model.ensure_tiny(folder) == (folder, True)


class _BrokenTransformers(types.ModuleType):
    """transformers as it imports beside PyPI's torchvision: every name fails, unnamed."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # what the import system asks of any module
            raise AttributeError(name)
        raise ImportError(
            f"Failed to import transformers.{name}\noperator torchvision::nms does not exist"
        )


@pytest.mark.parametrize(
    ("stand_in", "said"),
    [
        (None, "(transformers is missing)"),
        (_BrokenTransformers("transformers"), "(Failed to import transformers.LlamaConfig)"),
    ],
)
def test_making_the_model_without_its_packages_says_why(
    monkeypatch, tmp_path, stand_in, said
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", stand_in)
    with pytest.raises(LabError) as caught:
        model.make_tiny(tmp_path / "tiny")
    assert said in str(caught.value)
    assert "nox -s cpu-lab" in str(caught.value)
    assert not (tmp_path / "tiny").exists()


def test_local_folder_sources(tmp_path, write) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "config.json").write_text("{}")
    lab = profile.load(write("p.yaml", f"name: p\nmodel: {{source: {good}}}\n"))
    assert model.resolve(lab) == str(good.resolve())
    empty = tmp_path / "empty"
    empty.mkdir()
    lab = profile.load(write("q.yaml", f"name: q\nmodel: {{source: {empty}}}\n"))
    with pytest.raises(ConfigError, match=r"model.source: .* is not a model folder"):
        model.resolve(lab)


def test_hugging_face_ids_pass_through(write) -> None:
    lab = profile.load(write("p.yaml", "name: p\nmodel: {source: facebook/opt-125m}\n"))
    assert model.resolve(lab) == "facebook/opt-125m"


def test_token_id_prompts_need_the_models_tokenizer(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=f"tokenizer {tmp_path}: cannot be loaded"):
        chat_tokens.tokenizer(str(tmp_path))
