"""The model an engine serves: the lab's own tiny Llama, a Hugging Face id, or a local folder.

The tiny model lets every lab run offline: a byte-level BPE tokenizer trained on a few lines
of text, random Llama weights (head_dim 64, the least vLLM's CPU attention accepts), a chat
template. Same recipe, same bytes: a fixed seed, and a recipe hash beside the files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lab.config.profile import Profile
from lab.console import say
from lab.errors import ConfigError, LabError
from lab.paths import cache_dir

TINY_NAME = "tiny-llama"
SEED = 1234
# What the tokenizer learns from: plain sentences about the lab, enough for ~500 merges.
CORPUS = (
    "The vLLM production stack puts a request router in front of several serving engines.",
    "Each engine keeps a cache of key and value tensors for the prompts it has already seen.",
    "A prefix aware router sends requests that share a long prefix to the same engine.",
    "Session routing keeps every request of one conversation on the engine that served it.",
    "Round robin routing hands each new request to the next engine in a fixed order.",
    "Time to first token measures how long a user waits before the answer starts to stream.",
    "Inter token latency is the gap between two tokens of the same streamed answer.",
    "Throughput counts how many output tokens all engines produce in one second together.",
    "The quick brown fox jumps over the lazy dog while the router balances the load.",
    "Hello world, this tiny model answers with random words, which is all a lab test needs.",
    "Prometheus scrapes the metrics of every engine and of the router every few seconds.",
    "A lab profile says which model to serve, how many replicas to start and how to route.",
)
CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<s>assistant: {% endif %}"
)
ARCHITECTURE: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
}
VOCAB_SIZE = 512
RECIPE = hashlib.sha256(
    json.dumps([CORPUS, CHAT_TEMPLATE, ARCHITECTURE, VOCAB_SIZE, SEED, 2]).encode()
).hexdigest()[:16]
RECIPE_FILE = "lab-recipe.txt"
# Words that are exactly one token each: prompts made of them have known lengths.
WORDS_FILE = "lab-words.txt"


def tiny_dir() -> Path:
    return cache_dir() / "models" / TINY_NAME


def is_made(folder: Path) -> bool:
    marker = folder / RECIPE_FILE
    return marker.is_file() and marker.read_text().strip() == RECIPE


def ensure_tiny(out: Path | None = None) -> tuple[Path, bool]:
    """The tiny model's folder, made if missing or made by another recipe; (path, made_now)."""
    folder = out or tiny_dir()
    if is_made(folder):
        return folder, False
    make_tiny(folder)
    return folder, True


def make_tiny(folder: Path) -> None:
    """Write the tiny model to `folder`, atomically: a half-made model is never left behind."""
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    except ImportError as exc:
        # A missing package names itself. A broken one has no name: PyPI's torchvision beside
        # the CPU torch fails inside transformers, and only the error's first line says why.
        lines = str(exc).splitlines()
        cause = f"{exc.name} is missing" if exc.name else (lines[0] if lines else "import failed")
        raise LabError(
            f"making the tiny model needs torch and transformers ({cause}): "
            "install the lab with its engine extra (nox does this: nox -s cpu-lab)"
        ) from None

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    single = sorted(
        {
            word
            for line in CORPUS
            for word in (w.strip(".,") for w in line.split()[1:])
            if word.isalpha() and len(tokenizer.encode(" " + word).ids) == 1
        }
    )

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(fast),
        bos_token_id=0,
        eos_token_id=1,
        tie_word_embeddings=True,
        **ARCHITECTURE,
    )
    model = LlamaForCausalLM(config)

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        fast.save_pretrained(staging)
        model.save_pretrained(staging)
        (staging / WORDS_FILE).write_text("\n".join(single) + "\n")
        (staging / RECIPE_FILE).write_text(RECIPE + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve(profile: Profile) -> str:
    """What an engine is told to load: a folder for lab:tiny-llama or a local source, else the id.

    The tiny model is made here if it is not cached yet.
    """
    if profile.model.is_tiny:
        folder, made = ensure_tiny()
        if made:
            say(f"🧱 made lab:tiny-llama at {folder}")
        return str(folder)
    return locate(profile)


def locate(profile: Profile) -> str:
    """What resolve() would hand the engines, making nothing: a dry run's answer. A local
    source that is not a model folder is refused here as it is there."""
    source = profile.model.source
    if profile.model.is_tiny:
        return str(tiny_dir())
    folder = Path(source).expanduser()
    if folder.exists() or source.startswith(("/", ".", "~")):
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"{profile.source}: model.source: {source} is not a model folder "
                "(expected a folder with config.json in it)"
            )
        return str(folder.resolve())
    return source  # a Hugging Face id: the engine downloads it
