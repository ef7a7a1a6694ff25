"""The wire reader of locust-vs-vllm-bench --against wire (benchmarks/locust_vs_vllm_bench.py):
a pcap of the loopback, as tcpdump writes it, read into each exchange's request and first-token
times by the referee ID its answer carries. The pcaps are written here, frame by frame; the
real capture runs in the benchmark, where tcpdump and a stack are."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "locust_vs_vllm_bench.py"
ROUTER, ENGINE = 30080, 8000
ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":""}}]}\n\n'


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("locust_vs_vllm_bench", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def frame(source: int, destination: int, payload: bytes) -> bytes:
    """An Ethernet frame of an IPv4 TCP segment, as the loopback carries it."""
    tcp = struct.pack(">HHIIBBHHH", source, destination, 0, 0, 5 << 4, 0x18, 65535, 0, 0)
    size = 20 + len(tcp) + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, 6, 0, bytes(4), bytes(4))
    return bytes(12) + b"\x08\x00" + ip + tcp + payload


def pcap(path: Path, segments: list[tuple[float, int, int, bytes]], nano: bool = False) -> Path:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    data = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for when, source, destination, payload in segments:
        seconds = int(when)
        fraction = round((when - seconds) * (1e9 if nano else 1e6))
        body = frame(source, destination, payload)
        data += struct.pack("<IIII", seconds, fraction, len(body), len(body)) + body
    path.write_bytes(data)
    return path


def answer(request_id: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-lab-request-id: {request_id}\r\n\r\n".encode()  # noqa: E501


@pytest.mark.parametrize("nano", [False, True])
def test_each_exchange_has_its_request_and_first_token_times_by_id(bench, tmp_path, nano) -> None:
    client = 50000
    path = pcap(
        tmp_path / "lo.pcap",
        [
            # An answer to a request sent before the capture began: not counted.
            (0.5, ROUTER, client, answer("old")),
            (1.000, client, ROUTER, b"POST /v1/chat/completions HTTP/1.1\r\n\r\n{}"),
            (1.001, ROUTER, client, b""),  # a bare acknowledgement carries nothing
            (1.010, ROUTER, client, answer("a")),
            (1.011, ROUTER, client, ROLE),  # the role chunk is not the first token
            (1.015, ROUTER, client, b"2f\r\n" + TOKEN + b"\r\n"),
            (1.016, ROUTER, client, TOKEN),
            # The next request on the same connection; its headers carry its first token.
            (2.000, client, ROUTER, b"POST /v1/completions HTTP/1.1\r\n\r\n{}"),
            (2.020, ROUTER, client, answer("b") + b'data: {"choices":[{"text":""}]}\n\n'),
            (2.030, ENGINE, 40000, answer("c")),  # another server's port
        ],
        nano,
    )
    found = bench.exchanges(path, {ROUTER})
    assert set(found) == {"a", "b"}
    assert found["a"].sent == pytest.approx(1.000, abs=1e-6)
    assert found["a"].first_token == pytest.approx(1.015, abs=1e-6)
    assert found["b"].sent == pytest.approx(2.000, abs=1e-6)
    assert found["b"].first_token == pytest.approx(2.020, abs=1e-6)


def test_an_answer_without_a_token_has_no_first_token_time(bench, tmp_path) -> None:
    path = pcap(
        tmp_path / "lo.pcap",
        [
            (1.0, 40000, ENGINE, b"POST /v1/chat/completions HTTP/1.1\r\n\r\n{}"),
            (1.1, ENGINE, 40000, answer("a")),
            (1.2, ENGINE, 40000, ROLE + b"data: [DONE]\n\n"),
        ],
    )
    assert bench.exchanges(path, {ENGINE})["a"].first_token is None
