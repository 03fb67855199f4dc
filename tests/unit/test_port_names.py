"""Port names are whatever Drone lists (e.g. Windows' ``\\Device\\NPF_{...}``): a scenario's
name is matched against Drone's own list over the wire, never against a pattern.

A scripted Drone peer answers the version check and the port list; that the tool finds
ports on a real Drone is shown by the lab tests."""

from __future__ import annotations

import pytest

from ostinato_tcp.jobs.preflight import list_ports
from ostinato_tcp.drone._api import RPC_INDEX
from ostinato_tcp.drone._client import DroneClient
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.errors import UnknownPortError
from ostinato_tcp.drone.port import DronePort

from .fake_drone import FakePeer
from .helpers import scenario

WIN_A = r"\Device\NPF_{6B3A1D2C-0F2E-4B7A-9C1D-3E5F7A9B1C2D}"
WIN_B = r"\Device\NPF_{0D1E2F3A-4B5C-6D7E-8F90-A1B2C3D4E5F6}"
PORTS = {0: (r"\Device\NPF_Loopback", "Adapter for loopback traffic capture"),
         3: (WIN_A, "Intel(R) Ethernet Connection I219-LM"),
         4: (WIN_B, "Realtek USB GbE Family Controller")}


def _reply(method: str, body: bytes) -> bytes:
    req_types = {"getPortIdList": pb.Void, "getPortConfig": pb.PortIdList, "getStreamIdList": pb.PortId,
                 "getDeviceGroupIdList": pb.PortId, "getStats": pb.PortIdList}
    req = req_types[method].FromString(body)
    if method == "getPortIdList":
        return pb.PortIdList(port_id=[pb.PortId(id=i) for i in PORTS]).SerializeToString()
    if method == "getPortConfig":
        out = pb.PortConfigList()
        for pid in req.port_id:
            name, desc = PORTS[pid.id]
            p = out.port.add()
            p.port_id.id, p.name, p.description, p.is_enabled = pid.id, name, desc, True
        return out.SerializeToString()
    if method == "getStreamIdList":
        return pb.StreamIdList(port_id=req).SerializeToString()
    if method == "getDeviceGroupIdList":
        return pb.DeviceGroupIdList(port_id=req).SerializeToString()
    out = pb.PortStatsList()
    for pid in req.port_id:
        s = out.port_stats.add()
        s.port_id.id = pid.id
        s.state.link_state = pb.LinkStateUp
    return out.SerializeToString()


def scripted_drone(peer, conn, n):
    """A Drone 1.x peer for the read-only RPCs a port lookup and the listing use."""
    names = {v: k for k, v in RPC_INDEX.items()}
    while True:
        t, m, body = peer.read_request(conn)
        if names[m] == "checkVersion":
            peer.send(conn, 2, m, pb.VersionCompatibility(result=pb.VersionCompatibility.kCompatible)
                      .SerializeToString())
        else:
            peer.send(conn, 2, m, _reply(names[m], body))


@pytest.fixture
def drone():
    peer = FakePeer(scripted_drone)
    client = DroneClient("127.0.0.1", peer.port, timeout=3).connect()
    yield client
    client.disconnect()
    peer.close()


def test_a_windows_name_from_a_scenario_is_found_in_drones_list(drone):
    sc = scenario(**{"ports.a.interface": WIN_A, "ports.b.interface": WIN_B})
    a = DronePort(drone, sc.ports.a.ref, owner="x", label="port A")
    b = DronePort(drone, sc.ports.b.ref, owner="x", label="port B")
    assert (a.id, a.name) == (3, WIN_A)
    assert (b.id, b.name) == (4, WIN_B)


def test_a_port_id_finds_the_name(drone):
    sc = scenario(**{"ports.a.interface": None, "ports.a.port_id": 4})
    port = DronePort(drone, sc.ports.a.ref, owner="x")
    assert (port.id, port.name) == (4, WIN_B)


def test_a_name_drone_does_not_list_is_refused_with_the_list(drone):
    sc = scenario(**{"ports.a.interface": r"\Device\NPF_{NOT-THERE}"})
    with pytest.raises(UnknownPortError) as err:
        DronePort(drone, sc.ports.a.ref, owner="x")
    msg = str(err.value)
    # The names as Drone gives them (no doubled backslashes), each quoted.
    assert msg.endswith("no port named '\\Device\\NPF_{NOT-THERE}'; Drone has: "
                   + ", ".join(f"'{name}'" for name, _ in sorted(PORTS.values())))
    with pytest.raises(UnknownPortError, match=r"no port with id 9; Drone has: 0 \(.*Loopback.*\), 3 \("):
        DronePort(drone, 9, owner="x")


def test_ports_lists_windows_names_as_drone_gives_them(drone):
    rows = list_ports(drone)
    assert [(r["id"], r["name"], r["description"]) for r in rows] == [
        (pid, name, desc) for pid, (name, desc) in sorted(PORTS.items())]
    assert all(r["link"] == "up" and r["streams"] == 0 and not r["transmitting"] for r in rows)
