"""A TCP proxy on loopback that delays every chunk by a fixed time, each way: a network of
that latency without a limit on its bandwidth.

    .venv/bin/python bench/latency_proxy.py --target 127.0.0.1:5432 --delay-ms 15

It listens on 127.0.0.1 (a free port unless ``--port``), prints ``listening HOST:PORT`` and
forwards every connection to ``--target``. Each chunk read from one side is written to the
other ``--delay-ms`` milliseconds after it was read (15 by default, so 30 ms a round trip),
in the order read. Chunks are not serialised: each direction of a connection has a queue of
scheduled deliveries, and a chunk read while earlier ones wait is delivered its own delay
after its own reading — two chunks sent 5 ms apart arrive 5 ms apart, not one delay after
the other. The end of a stream (EOF) is passed on after the same delay, behind the chunks
before it.

Run as a program, it answers ``stats`` on its standard input with one JSON line of counters
(connections; chunks and bytes each way) and ends at the end of its input, SIGTERM or
SIGINT. ``LatencyProxy`` is the same in-process, for tests: ``with LatencyProxy(...) as
proxy:`` runs it in a thread of its own and gives ``proxy.port``.
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a program, this folder comes first on the path, and bench/queue.py would stand
# for the standard library's ``queue``: take the folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType

CHUNK = 64 * 1024
DEFAULT_DELAY_MS = 15.0


@dataclass
class Stats:
    connections: int = 0
    chunks_up: int = 0  # client → target
    bytes_up: int = 0
    chunks_down: int = 0  # target → client
    bytes_down: int = 0
    # Requests that waited for an answer: the client sending once more after it was sent
    # something (or for the first time), on any connection. A pipeline of statements is
    # one; a statement after the answer to the one before, another.
    round_trips: int = 0


class LatencyProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` with ``delay`` seconds
    added to every chunk in each direction (pipelined, in order)."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        delay: float = DEFAULT_DELAY_MS / 1000,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        if delay < 0:
            raise ValueError("the delay cannot be negative")
        self.target_host, self.target_port = target_host, target_port
        self.delay = delay
        self.listen_host, self.listen_port = listen_host, listen_port
        self.stats = Stats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None

    # ---- asyncio -----------------------------------------------------------------------
    async def start(self) -> int:
        """Listen; returns the port."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._accepted, self.listen_host, self.listen_port
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self.listen_port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # A connection accepted while closing may have no task yet: its sockets go too.
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        # The transports' own closing runs on the next turns of the loop: let it, before
        # the loop is closed (else their sockets are left to the garbage collector).
        for _ in range(3):
            await asyncio.sleep(0)

    @property
    def port(self) -> int:
        return self.listen_port

    async def _accepted(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(client_writer)
        self.stats.connections += 1
        target_writer: asyncio.StreamWriter | None = None
        try:
            try:
                target_reader, target_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
                self._writers.add(target_writer)
            except OSError:
                return
            answered = [True]  # the client has been sent something since it last sent
            await asyncio.gather(
                self._pipe(client_reader, target_writer, up=True, answered=answered),
                self._pipe(target_reader, client_writer, up=False, answered=answered),
            )
        except asyncio.CancelledError:
            pass
        finally:
            for writer in (client_writer, target_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await writer.wait_closed()
                    self._writers.discard(writer)
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        up: bool,
        answered: list[bool],
    ) -> None:
        """One direction: a reader that stamps each chunk with its time of delivery, and a
        writer that delivers them in order, each at its time (so chunks in flight overlap)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            try:
                while True:
                    data = await reader.read(CHUNK)
                    queue.put_nowait((loop.time() + self.delay, data))
                    if not data:  # end of stream: passed on after the same delay
                        return
                    if up:
                        self.stats.chunks_up += 1
                        self.stats.bytes_up += len(data)
                        if answered[0]:
                            self.stats.round_trips += 1
                            answered[0] = False
                    else:
                        self.stats.chunks_down += 1
                        self.stats.bytes_down += len(data)
                        answered[0] = True
            except (ConnectionError, OSError):
                queue.put_nowait((loop.time(), b""))

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(ConnectionError, OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        reading = asyncio.ensure_future(read())
        try:
            await deliver()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    # ---- in a thread of its own (tests, scripts) ---------------------------------------
    def __enter__(self) -> LatencyProxy:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=run, name="latency-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def parse_target(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"HOST:PORT expected, not {value!r}")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    host, port = args.target
    proxy = LatencyProxy(host, port, args.delay_ms / 1000, listen_port=args.port)
    listening = await proxy.start()
    print(f"listening 127.0.0.1:{listening}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)

    pending = bytearray()
    stdin = sys.stdin.fileno()

    def command() -> None:
        data = os.read(stdin, 4096)
        if not data:
            loop.remove_reader(stdin)
            done.set()
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip() == b"stats":
                print(json.dumps({"at": time.time(), **asdict(proxy.stats)}), flush=True)

    loop.add_reader(stdin, command)
    await done.wait()
    await proxy.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=parse_target, required=True, metavar="HOST:PORT")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=DEFAULT_DELAY_MS,
        help=f"added to every chunk in each direction (default {DEFAULT_DELAY_MS:g})",
    )
    parser.add_argument("--port", type=int, default=0, help="to listen on (default: a free one)")
    args = parser.parse_args()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
