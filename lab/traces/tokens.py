"""The served model's tokenizer (lab.inproc.chat_tokens loads it) as a trace uses it: text as a
completion prompt, a chat through the model's template, a reply's length."""

from __future__ import annotations

from lab.inproc import chat_tokens


class ModelTokens:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokenizer = chat_tokens.tokenizer(source)
        self.vocab = len(self.tokenizer)

    def text(self, text: str) -> list[int]:
        return list(self.tokenizer(text).input_ids)

    def chat(self, messages: list[dict[str, str]]) -> list[int]:
        return chat_tokens.token_ids(self.source, messages)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)
