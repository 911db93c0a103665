"""A tiny TCP proxy that forwards to a server and cuts each connection after N bytes from the client.

It stands for a network that drops mid-upload: the server sees a request body end early, the client
sees its connection reset, and the test can then resume the upload directly. With ``stall`` the link
first stalls that many seconds after the last byte it lets through, then drops: the server has read
what it got (a connection dropped at once may take with it bytes the server had not read yet). With
``rate`` it is a slow link instead: client->server bytes of all connections together pass at about that
many per second.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Self


class CuttingProxy:
    def __init__(self, target_host: str, target_port: int, cut_after: int | None, rate: float | None = None,
                 stall: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.cut_after = cut_after  # bytes of client->server traffic per connection; None: never cut
        self.stall = stall  # seconds between the last byte let through and the cut
        self.rate = rate  # bytes per second client->server, shared by all connections; None: as fast as it goes
        self._budget_lock = threading.Lock()
        self._next_free = time.monotonic()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            sockets = (client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream, self.cut_after, sockets, self._throttle,
                                                      self.stall), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None, sockets), daemon=True).start()

    def _throttle(self, n: int) -> None:
        if self.rate is None:
            return
        with self._budget_lock:
            start = max(self._next_free, time.monotonic())
            self._next_free = start + n / self.rate
        time.sleep(max(0.0, start - time.monotonic()))

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, limit: int | None,
              sockets: tuple[socket.socket, socket.socket], throttle=lambda n: None, stall: float = 0.0) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                throttle(len(data))
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    time.sleep(stall)
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        # Cut: drop both sides at once, as a failed network would. shutdown() first: it wakes the other
        # pump blocked in recv() (close() alone would not, and the peer would never learn of the cut).
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
