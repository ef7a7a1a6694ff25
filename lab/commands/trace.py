"""The verb that reads a trace file on its own: trace stats FILE."""

from __future__ import annotations

import argparse

from lab.commands.options import path


def add(verbs: argparse._SubParsersAction) -> None:
    trace = verbs.add_parser("trace", help="what a trace file holds")
    trace.add_argument(
        "action",
        choices=["stats"],
        help="stats: requests, sessions, duration, peak rates, token percentiles, theoretical "
        "prefix reuse",
    )
    trace.add_argument("file", type=path, help="a trace (docs/traces.md)")
    trace.add_argument(
        "--format",
        default="auto",
        choices=("auto", "lab", "mooncake", "sharegpt", "openai-chat", "csv"),
        help="the trace's format (default: decided from its content)",
    )
    trace.add_argument(
        "--block-tokens", type=int, default=512, help="tokens per Mooncake hash id (default: 512)"
    )
    trace.add_argument(
        "--tokenizer",
        type=path,
        default="",
        help="a model folder whose tokenizer counts text (default: the lab's tiny model)",
    )
    trace.set_defaults(run=_stats)


def _stats(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.config import model
    from lab.console import say
    from lab.errors import ConfigError
    from lab.traces.prepare import Options, Trace
    from lab.traces.tokens import ModelTokens

    if args.block_tokens < 1:
        raise ConfigError(f"--block-tokens: expected at least 1, got {args.block_tokens}")
    source = args.tokenizer or str(model.tiny_dir())
    tokens = ModelTokens(source) if Path(source).is_dir() else None
    trace = Trace(Path(args.file), Options(args.format, args.block_tokens), tokens)
    fmt = trace.format()
    shown = f"{fmt} (auto)" if args.format == "auto" else fmt
    for line in trace.tally().lines(shown):
        say(line)
    return 0
