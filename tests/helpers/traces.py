"""Trace files in each real format, made by the tests themselves (nothing is downloaded)."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def mooncake(
    path: Path,
    requests: int = 40,
    shared: int = 6,
    own: int = 4,
    block: int = 64,
    gap_ms: float = 50.0,
) -> Path:
    """Requests of `shared` blocks every one has, then `own` blocks of its own (the last cut
    by 10 tokens): a theoretical reuse of shared/(shared+own), less the first request's."""
    with path.open("w") as file:
        for n in range(requests):
            ids = list(range(shared)) + [1000 + n * own + i for i in range(own)]
            line = {
                "timestamp": round(n * gap_ms, 3),
                "input_length": len(ids) * block - 10,
                "output_length": 3 + n % 4,
                "hash_ids": ids,
            }
            file.write(json.dumps(line) + "\n")
    return path


CONVERSATIONS = [
    {
        "id": f"conv-{n}",
        "conversations": [
            {"from": "human", "value": f"Tell me about the lab, part {n}."},
            {"from": "gpt", "value": "The lab brings up engines and a router. " * (2 + n)},
            {"from": "human", "value": "And then what does it do with them?"},
            {"from": "gpt", "value": "It puts them under load and compares the runs. " * 3},
            {"from": "human", "value": "Thank you, that is clear."},
            {"from": "gpt", "value": "You are welcome."},
        ],
    }
    for n in range(4)
]


def sharegpt(path: Path, jsonl: bool = False) -> Path:
    if jsonl:
        path.write_text("".join(json.dumps(c) + "\n" for c in CONVERSATIONS))
    else:
        path.write_text(json.dumps(CONVERSATIONS, indent=1))
    return path


def burstgpt(path: Path, rows: int = 20) -> Path:
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(
            ["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"]
        )
        for n in range(rows):
            model = "ChatGPT" if n % 3 else "GPT-4"
            answer = 0 if n % 7 == 3 else 10 + n
            out.writerow([n * 0.5, model, 20 + n, answer, 20 + n + answer, "Conversation log"])
    return path


def azure(path: Path, rows: int = 10) -> Path:
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        for n in range(rows):
            out.writerow([f"2023-11-16 18:15:{10 + n:02d}.6805900", 30 + n, 5 + n])
    return path


def openai_batch(path: Path, rows: int = 5) -> Path:
    with path.open("w") as file:
        for n in range(rows):
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": f"Question {n}?"}],
                "max_tokens": 4 + n,
            }
            line = {
                "custom_id": f"r{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": body,
            }
            file.write(json.dumps(line) + "\n")
    return path
