"""Drone client: framing, notifications, version handshake and faults, against scripted peers.

These fake peers check the client's handling of the wire; that the client works
with Drone itself is shown by tests/lab/test_drone_lab.py against the real one.
"""

from __future__ import annotations

import socket
import time

import pytest

from ostinato_tcp.drone._client import DroneClient
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.errors import (DroneConnectError, DroneProtocolError, DroneRpcError, DroneTimeoutError,
                                 DroneVersionError)

from .fake_drone import FakePeer

COMPATIBLE = pb.VersionCompatibility(result=pb.VersionCompatibility.kCompatible).SerializeToString()


def handshake(peer, conn):
    t, m, body = peer.read_request(conn)
    assert (t, m) == (1, 15)
    peer.send(conn, 2, 15, COMPATIBLE)
    return pb.VersionInfo.FromString(body)


def ports_reply(*ids):
    return pb.PortIdList(port_id=[pb.PortId(id=i) for i in ids]).SerializeToString()


@pytest.fixture
def peer_factory():
    peers = []

    def make(handler):
        p = FakePeer(handler)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def test_request_framing_and_reply(peer_factory):
    def handler(peer, conn, n):
        info = handshake(peer, conn)
        assert info.client_name == "ostinato-tcp"
        t, m, body = peer.read_request(conn)
        assert (t, m, body) == (1, 0, b"")  # getPortIdList(Void): empty body
        peer.send(conn, 2, 0, ports_reply(0, 1, 7))

    peer = peer_factory(handler)
    with DroneClient("127.0.0.1", peer.port, timeout=2) as drone:
        reply = drone.getPortIdList()
    assert [p.id for p in reply.port_id] == [0, 1, 7]
    # The header of the first request: type 1, method 15 (checkVersion), body length.
    assert peer.requests[0][0:2] == (1, 15)


def test_notifications_between_replies_are_skipped_and_reported(peer_factory):
    note = pb.Notification(notif_type=pb.portConfigChanged,
                           port_id_list=pb.PortIdList(port_id=[pb.PortId(id=3)])).SerializeToString()

    def handler(peer, conn, n):
        handshake(peer, conn)
        peer.read_request(conn)
        peer.send(conn, 5, 1, note)
        peer.send(conn, 5, 1, note)
        peer.send(conn, 2, 0, ports_reply(4))

    seen = []
    peer = peer_factory(handler)
    with DroneClient("127.0.0.1", peer.port, timeout=2, on_notification=seen.append) as drone:
        reply = drone.getPortIdList()
        assert drone.notifications_seen == 2
    assert [p.id for p in reply.port_id] == [4]
    assert [s.port_id_list.port_id[0].id for s in seen] == [3, 3]


def test_version_corrected_after_incompatible_reply(peer_factory):
    announced = []

    def handler(peer, conn, n):
        t, m, body = peer.read_request(conn)
        info = pb.VersionInfo.FromString(body)
        announced.append(info.version)
        if info.version.startswith("1.4."):
            peer.send(conn, 2, 15, COMPATIBLE)
            peer.read_request(conn)
            peer.send(conn, 2, 0, ports_reply(1))
        else:  # like Drone: refuse, name the needed version, close the connection
            peer.send(conn, 2, 15, pb.VersionCompatibility(
                result=pb.VersionCompatibility.kIncompatible,
                notes="Drone needs controller version 1.4.x").SerializeToString())

    peer = peer_factory(handler)
    with DroneClient("127.0.0.1", peer.port, timeout=2, version_guess="1.2.0") as drone:
        assert drone.announced_version == "1.4.0"
        assert drone.drone_version == "1.4.x"  # Drone's own MAJOR.MINOR, learnt from its refusal
        assert drone.getPortIdList().port_id[0].id == 1
    assert announced == ["1.2.0", "1.4.0"]
    assert peer.connections == 2


def test_explicit_version_is_not_corrected(peer_factory):
    def handler(peer, conn, n):
        peer.read_request(conn)
        peer.send(conn, 2, 15, pb.VersionCompatibility(
            result=pb.VersionCompatibility.kIncompatible,
            notes="Drone needs controller version 1.4.x").SerializeToString())

    peer = peer_factory(handler)
    with pytest.raises(DroneVersionError, match=r"127\.0\.0\.1:\d+, checkVersion: .*1\.3\.0.*1\.4\.x"):
        DroneClient("127.0.0.1", peer.port, timeout=2, version="1.3.0").connect()
    assert peer.connections == 1


def test_not_listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    with pytest.raises(DroneConnectError, match=rf"Drone 127\.0\.0\.1:{port}, connect: connection refused"):
        DroneClient("127.0.0.1", port, timeout=2).connect()
    assert time.monotonic() - t0 < 2


def test_garbage_bytes(peer_factory):
    def handler(peer, conn, n):
        peer.read_request(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\x00" * 64)
        time.sleep(1)

    peer = peer_factory(handler)
    t0 = time.monotonic()
    with pytest.raises((DroneProtocolError,)) as err:
        DroneClient("127.0.0.1", peer.port, timeout=3).connect()
    assert time.monotonic() - t0 < 3
    assert "checkVersion" in str(err.value)


def test_oversize_length_field(peer_factory):
    def handler(peer, conn, n):
        peer.read_request(conn)
        conn.sendall(b"\x00\x02\x00\x0f\xff\xff\xff\xf0")  # a reply of ~4 GiB
        time.sleep(1)

    peer = peer_factory(handler)
    t0 = time.monotonic()
    with pytest.raises(DroneProtocolError, match="frame length 4294967280 exceeds"):
        DroneClient("127.0.0.1", peer.port, timeout=3).connect()
    assert time.monotonic() - t0 < 1


def test_silent_peer_times_out(peer_factory):
    def handler(peer, conn, n):
        peer.read_request(conn)
        time.sleep(3)

    peer = peer_factory(handler)
    t0 = time.monotonic()
    with pytest.raises(DroneTimeoutError, match=r"checkVersion: no reply within 0\.5 s"):
        DroneClient("127.0.0.1", peer.port, timeout=0.5).connect()
    assert time.monotonic() - t0 < 1.5


def test_peer_closes_mid_reply(peer_factory):
    def handler(peer, conn, n):
        handshake(peer, conn)
        peer.read_request(conn)
        conn.sendall(b"\x00\x02\x00\x00\x00\x00\x00\x10\x0a")  # header promises 16 bytes, 1 arrives

    peer = peer_factory(handler)
    drone = DroneClient("127.0.0.1", peer.port, timeout=2).connect()
    with pytest.raises(DroneProtocolError, match="getPortIdList: connection lost: Drone closed the connection"):
        drone.getPortIdList()
    assert not drone.connected


def test_error_reply_and_ack_error(peer_factory):
    def handler(peer, conn, n):
        handshake(peer, conn)
        peer.read_request(conn)
        peer.send(conn, 4, 5, b"invalid port id 99\n")
        peer.read_request(conn)
        peer.send(conn, 2, 6, pb.Ack(status=pb.Ack.kRpcError, notes="no such stream").SerializeToString())

    peer = peer_factory(handler)
    drone = DroneClient("127.0.0.1", peer.port, timeout=2).connect()
    req = pb.StreamIdList(port_id=pb.PortId(id=99))
    with pytest.raises(DroneRpcError, match="addStream: invalid port id 99"):
        drone.addStream(req)
    assert drone.connected  # an error reply leaves the connection usable
    with pytest.raises(DroneRpcError, match="deleteStream: no such stream"):
        drone.deleteStream(req)


def test_reply_for_another_method_is_a_protocol_error(peer_factory):
    def handler(peer, conn, n):
        handshake(peer, conn)
        peer.read_request(conn)
        peer.send(conn, 2, 13, b"")

    peer = peer_factory(handler)
    drone = DroneClient("127.0.0.1", peer.port, timeout=2).connect()
    with pytest.raises(DroneProtocolError, match="unexpected frame"):
        drone.getPortIdList()


def test_generated_modules_match_proto_files():
    from ostinato_tcp.drone import protogen

    assert protogen.main(["--check"]) == 0


def test_backends_do_not_mix():
    import sys
    from ostinato_tcp.drone import open_drone
    from ostinato_tcp.errors import UsageError

    assert "ostinato_tcp.drone._pb.ostproto_pb2" in sys.modules  # imported by this test module
    with pytest.raises(UsageError, match="python-ostinato cannot be used beside it"):
        open_drone("127.0.0.1", 1, backend="python-ostinato")
    with pytest.raises(UsageError, match="drone backend 'grpc'"):
        open_drone("127.0.0.1", 1, backend="grpc")
