"""A loopback proxy in front of Postfix (plain SMTP) for the outbox's tests: what becomes
of the server's answer to each end of data (relayed, lost with the connection, or never
given), and a server that never greets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

END_OF_DATA = b"\r\n.\r\n"


@dataclass
class SmtpProxy:
    """A loopback proxy in front of Postfix (plain SMTP) that acts at each end of data:
    ``at_end_of_data(n)`` runs before the n-th message's end-of-data mark goes to Postfix
    and says what becomes of Postfix's answer: "relay" it, "drop" it (the client's side is
    closed), or "hold" it (the connection stays open, silent). While ``silent`` is set, new
    connections are accepted and never greeted."""

    target_port: int
    at_end_of_data: Callable[[int], str] = lambda _n: "relay"
    silent: threading.Event = field(default_factory=threading.Event)
    greeted: threading.Event = field(default_factory=threading.Event)  # a connection waits
    ends: int = 0
    answers_kept: list[bytes] = field(default_factory=list)  # Postfix's, not relayed
    accepted: threading.Event = field(default_factory=threading.Event)  # one of them a 250

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []  # every one, closed at the end
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self.silent.is_set():
                self.greeted.set()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            self._sockets.append(upstream)
            mute = threading.Event()  # the answers from here on are not relayed
            threading.Thread(
                target=self._to_server, args=(client, upstream, mute), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, client, mute), daemon=True
            ).start()

    def _to_server(
        self, client: socket.socket, upstream: socket.socket, mute: threading.Event
    ) -> None:
        tail = b""
        try:
            while chunk := client.recv(65536):
                if END_OF_DATA in tail + chunk:
                    with self._lock:
                        self.ends += 1
                        n = self.ends
                    what = self.at_end_of_data(n)
                    if what != "relay":
                        mute.set()
                    upstream.sendall(chunk)
                    if what == "drop":
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                        return
                    if what == "hold":
                        return
                else:
                    upstream.sendall(chunk)
                tail = (tail + chunk)[-4:]
        except OSError:
            pass

    def _to_client(
        self, upstream: socket.socket, client: socket.socket, mute: threading.Event
    ) -> None:
        try:
            while chunk := upstream.recv(65536):
                if mute.is_set():
                    self.answers_kept.append(chunk)
                    if chunk.startswith(b"250"):
                        self.accepted.set()
                    continue
                client.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for each in self._sockets:
            each.close()
