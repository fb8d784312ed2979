"""bench/latency_proxy.py: every chunk delayed each way, in order, without serialising the
chunks in flight. The margins are wide: the machine may be busy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.latency_proxy import LatencyProxy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends back every chunk at once and closes its side
    when the client has closed its own."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the connection closed early"
        data += chunk
    return data


def test_a_chunk_comes_back_after_the_delay_both_ways(echo_server: int) -> None:
    delay = 0.2
    with LatencyProxy("127.0.0.1", echo_server, delay) as proxy, connect(proxy.port) as sock:
        started = time.monotonic()
        sock.sendall(b"ping")
        assert receive(sock, 4) == b"ping"
        took = time.monotonic() - started
    assert took >= 2 * delay - 0.005  # there and back
    assert took < 2 * delay + 2.0  # generous: a busy machine


def test_chunks_in_flight_overlap_instead_of_queueing_behind_each_other(
    echo_server: int,
) -> None:
    delay, apart = 0.3, 0.02
    with LatencyProxy("127.0.0.1", echo_server, delay) as proxy, connect(proxy.port) as sock:
        sent = time.monotonic()
        sock.sendall(b"one")
        time.sleep(apart)
        second_sent = time.monotonic()
        sock.sendall(b"two")
        assert receive(sock, 3) == b"one"
        first_back = time.monotonic()
        assert receive(sock, 3) == b"two"
        second_back = time.monotonic()
    assert first_back - sent >= 2 * delay - 0.005
    assert second_back - second_sent >= 2 * delay - 0.005
    # Pipelined: about `apart` between them. Serialised (each chunk's delay waited out
    # before the next is read), the second would come at least one delay after the first.
    assert second_back - first_back < delay / 2


def test_round_trips_count_the_requests_that_waited_for_an_answer(echo_server: int) -> None:
    with LatencyProxy("127.0.0.1", echo_server, 0.05) as proxy, connect(proxy.port) as sock:
        sock.sendall(b"one")
        assert receive(sock, 3) == b"one"  # 1
        for piece in (b"a", b"b", b"c"):  # a pipeline: sent before any answer came
            sock.sendall(piece)
        assert receive(sock, 3) == b"abc"  # 2
        sock.sendall(b"two")
        assert receive(sock, 3) == b"two"  # 3
        assert proxy.stats.round_trips == 3


def test_many_chunks_arrive_whole_and_in_order_and_the_end_is_passed_on(
    echo_server: int,
) -> None:
    pieces = [bytes([n % 251]) * (1 + n * 37 % 5000) for n in range(300)]
    sent = b"".join(pieces)
    with LatencyProxy("127.0.0.1", echo_server, 0.01) as proxy, connect(proxy.port) as sock:
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)  # the echo server closes its side in turn
        back = b""
        while chunk := sock.recv(65536):
            back += chunk
    assert back == sent
    assert proxy.stats.connections == 1
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(sent)


def test_the_program_prints_its_port_answers_stats_and_ends_with_its_input(
    echo_server: int,
) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "latency_proxy.py"),
            "--target",
            f"127.0.0.1:{echo_server}",
            "--delay-ms",
            "50",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proxy:
        assert proxy.stdin is not None and proxy.stdout is not None
        try:
            first = proxy.stdout.readline().split()
            assert first[0] == "listening"
            port = int(first[1].rpartition(":")[2])
            with connect(port) as sock:
                started = time.monotonic()
                sock.sendall(b"hello")
                assert receive(sock, 5) == b"hello"
                assert time.monotonic() - started >= 0.1 - 0.005
            proxy.stdin.write("stats\n")
            proxy.stdin.flush()
            stats = json.loads(proxy.stdout.readline())
            assert stats["connections"] == 1
            assert stats["chunks_up"] >= 1 and stats["bytes_up"] == 5
            assert stats["bytes_down"] == 5
            proxy.stdin.close()
            assert proxy.wait(10) == 0
        finally:
            if proxy.poll() is None:
                proxy.kill()
