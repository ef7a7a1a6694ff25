"""What a request's prompt was, recorded in requests.csv's `prompt` column so that a run can be
written out as a trace and sent again exactly (`python -m lab export trace`): token IDs
("ids:"), or a chat's messages ("chat:"), each compressed (zlib, then base64). A prompt whose
record would pass RECORD_CAP characters is left empty: requests.csv's lines are capped
(lab.files.MAX_LINE), and the export names such requests."""

from __future__ import annotations

import base64
import zlib
from array import array
from typing import Any

import orjson

RECORD_CAP = 48 * 2**10  # characters, within lab.files.MAX_LINE with the row's other columns


def record(prompt: dict[str, Any]) -> str:
    """The column's value for an OpenAI request's prompt fields ({prompt: [ids]} or
    {messages: [...]})."""
    if isinstance(prompt.get("prompt"), list):
        kind, data = "ids", array("I", prompt["prompt"]).tobytes()
    elif "messages" in prompt:
        kind, data = "chat", orjson.dumps(prompt["messages"])
    else:
        return ""
    value = f"{kind}:{base64.b64encode(zlib.compress(data, 6)).decode()}"
    return value if len(value) <= RECORD_CAP else ""


def read(value: str) -> dict[str, Any]:
    """The prompt a column's value records: {prompt_token_ids: [...]} or {messages: [...]};
    ValueError when it is not one."""
    kind, _, packed = value.partition(":")
    try:
        data = zlib.decompress(base64.b64decode(packed, validate=True), bufsize=2**16)
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"prompt: not a recorded prompt ({exc})") from None
    if kind == "ids" and len(data) % 4 == 0:
        return {"prompt_token_ids": array("I", data).tolist()}
    if kind == "chat":
        return {"messages": orjson.loads(data)}
    raise ValueError(f"prompt: expected ids: or chat:, got {kind[:20]!r}")
