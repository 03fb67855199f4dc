"""A scripted TCP peer for fault tests of the Drone client (never a stand-in for Drone itself)."""

from __future__ import annotations

import socket
import struct
import threading

HEADER = struct.Struct(">HHI")


class FakePeer:
    """Accepts connections and runs ``handler(conn, connection_number)`` for each."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[tuple[int, int, bytes]] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            try:
                self.handler(self, conn, self.connections)
            except OSError:
                pass
            finally:
                conn.close()

    def read_request(self, conn) -> tuple[int, int, bytes]:
        head = _exact(conn, 8)
        msg_type, method, length = HEADER.unpack(head)
        body = _exact(conn, length)
        self.requests.append((msg_type, method, body))
        return msg_type, method, body

    @staticmethod
    def send(conn, msg_type: int, code: int, body: bytes) -> None:
        conn.sendall(HEADER.pack(msg_type, code, len(body)) + body)

    def close(self):
        self._stop = True
        self.sock.close()
        self.thread.join(2)


def _exact(conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise OSError("peer closed")
        buf += chunk
    return buf
