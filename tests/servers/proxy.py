"""A TCP proxy on loopback that breaks its connections on command, for the fault tests.

``FaultProxy(host, port)`` listens on a free port of 127.0.0.1 and forwards every connection
to ``host:port`` (PostgreSQL, say), in a thread of its own (an asyncio loop). From any thread:

- ``drop()`` resets every connection it carries (RST both ways, as when a firewall or a NAT
  forgets them): the client's next read or write fails at once, and the server ends the
  session (rolling back what it had not committed).
- ``black_hole()`` stops forwarding, in both directions and on new connections too, without
  closing anything: packets dropped on the way. Clients wait — for an answer, or in
  ``connect`` — as long as their own timeouts let them. ``flow()`` forwards again what waited
  (TCP would have retransmitted it); ``drop()`` during a black hole is the link that never
  comes back.

A connection whose target cannot be reached (the server stopped) is reset at once, as the
server's own port would refuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from tests.servers import HOST, ServerError

T = TypeVar("T")
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _reset(transport: asyncio.Transport | None) -> None:
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    transport.abort()


class _Side(asyncio.Protocol):
    """One socket of a forwarded connection; what it reads goes to the other side."""

    def __init__(self, pair: _Pair) -> None:
        self.pair = pair
        self.transport: asyncio.Transport | None = None
        self.other: _Side | None = None
        self.waiting = bytearray()  # read before the other side was connected
        self.ended = False  # its peer will send no more (EOF)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.pair.proxy.holding:
            transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        other = self.other
        if other is None or other.transport is None:
            self.waiting += data
            return
        other.transport.write(data)

    def eof_received(self) -> bool | None:
        self.ended = True
        other = self.other
        if other is None or other.ended or other.transport is None:
            self.pair.close()  # both directions ended
            return None
        if other.transport.can_write_eof():
            other.transport.write_eof()
        return True  # half-closed: the other direction goes on

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.close(reset=exc is not None)


class _Pair:
    """A client's connection and the proxy's connection to the target."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.client = _Side(self)
        self.target = _Side(self)
        self.client.other, self.target.other = self.target, self.client
        self.closed = False

    def sides(self) -> tuple[_Side, _Side]:
        return self.client, self.target

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy._pairs.discard(self)
        for side in self.sides():
            if reset:
                _reset(side.transport)
            elif side.transport is not None:
                side.transport.close()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``; see the module."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.holding = False  # black-holed
        self.accepted = 0
        self.dropped = 0  # connections reset by drop()
        self._pairs: set[_Pair] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("FaultProxy is not started")
        return self._port

    @property
    def connections(self) -> int:
        return self._call(lambda: len(self._pairs))

    # ---- commands (from any thread) ------------------------------------------------------
    def drop(self) -> int:
        """Reset every connection now; returns how many."""

        def reset_all() -> int:
            pairs = list(self._pairs)
            for pair in pairs:
                pair.close(reset=True)
            self.dropped += len(pairs)
            return len(pairs)

        return self._call(reset_all)

    def black_hole(self) -> None:
        """Stop forwarding anything (connections stay open) until ``flow()``."""

        def hold() -> None:
            self.holding = True
            for pair in self._pairs:
                for side in pair.sides():
                    if side.transport is not None and not side.transport.is_closing():
                        side.transport.pause_reading()

        self._call(hold)

    def flow(self) -> None:
        """Forward again (what the clients sent meanwhile goes on now)."""

        def release() -> None:
            self.holding = False
            for pair in list(self._pairs):
                for side in pair.sides():
                    if side.transport is not None and not side.transport.is_closing():
                        side.transport.resume_reading()

        self._call(release)

    # ---- life ----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._accepted, HOST, 0, reuse_address=True)
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise ServerError(f"the proxy could not listen: {failure[0]}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- internals (on the loop) ----------------------------------------------------------
    def _call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the proxy's loop and return what it returned."""

        async def run() -> T:
            return work()

        return self._run(run())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coroutine.close()
            raise ServerError("FaultProxy is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _accepted(self) -> _Side:
        pair = _Pair(self)
        self._pairs.add(pair)
        self.accepted += 1
        assert self._loop is not None
        self._loop.create_task(self._connect(pair))
        return pair.client

    async def _connect(self, pair: _Pair) -> None:
        assert self._loop is not None
        try:
            await self._loop.create_connection(
                lambda: pair.target, self.target_host, self.target_port
            )
        except OSError:
            pair.close(reset=True)  # as the stopped server's port would: refused
            return
        if pair.closed:  # reset meanwhile (drop(), or the client went away)
            _reset(pair.target.transport)
            return
        if pair.client.waiting and pair.target.transport is not None:
            pair.target.transport.write(bytes(pair.client.waiting))
            pair.client.waiting.clear()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pair in list(self._pairs):
            pair.close(reset=True)
        await asyncio.sleep(0)
