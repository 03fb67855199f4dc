"""The built-in Drone client against the lab's real Drone 1.x."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import threading
import time

import pytest

from ostinato_tcp.drone import open_drone
from ostinato_tcp.drone._client import DroneClient
from ostinato_tcp.errors import DroneError, DroneProtocolError, DroneVersionError


def ip4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def dut_mac(lab, ifname: str) -> int:
    out = subprocess.run(["ip", "-n", lab.dut["namespace"], "-br", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[2].replace(":", ""), 16)


def dut_rx_packets(lab, ifname: str) -> int:
    path = f"/sys/class/net/{ifname}/statistics/rx_packets"
    return int(subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "cat", path],
                              capture_output=True, text=True, check=True).stdout)


@pytest.fixture
def drone(lab):
    client = open_drone(lab.drone_a["host"], lab.drone_a["port"])
    yield client
    # Remove whatever the test created on the lab's ports.
    if not client.connected:
        client.connect()
    for name in ("porta", "portb"):
        pid = client.find_port(name)
        sids = client.getStreamIdList(client.pb.PortId(id=pid))
        if sids.stream_id:
            client.deleteStream(sids)
        dgs = client.getDeviceGroupIdList(client.pb.PortId(id=pid))
        if dgs.device_group_id:
            client.deleteDeviceGroup(dgs)
    client.disconnect()


def test_version_handshake_corrects_a_wrong_guess(lab):
    with DroneClient(lab.drone_a["host"], lab.drone_a["port"], version_guess="0.9.0") as d:
        assert d.announced_version == "1.2.0"  # what Debian 12's Drone needs
        assert d.getPortIdList().port_id
    with pytest.raises(DroneVersionError, match="needs controller version 1.2"):
        DroneClient(lab.drone_a["host"], lab.drone_a["port"], version="0.9.0").connect()


def test_ports_by_name(drone):
    names = drone.port_names()
    assert names["porta"] != names["portb"]
    assert drone.find_port("portb") == names["portb"]
    with pytest.raises(DroneError, match="no port named 'eth9'; Drone has: .*'porta', 'portb'"):
        drone.find_port("eth9")


def _tcp_stream(pb, sid: int, dst_mac: int, packets: int = 10):
    s = pb.Stream()
    s.stream_id.id = sid
    s.core.name = "probe"
    s.core.is_enabled = True
    s.core.ordinal = 0
    s.core.frame_len = 64
    s.control.num_packets = packets
    s.control.packets_per_sec = 1000
    s.control.next = pb.StreamControl.e_nw_stop
    p = s.protocol.add()
    p.protocol_id.id = 100
    mac = p.Extensions[pb.mac]
    mac.dst_mac_mode = pb.Mac.e_mm_fixed
    mac.dst_mac = dst_mac
    mac.src_mac_mode = pb.Mac.e_mm_fixed
    mac.src_mac = 0x02AABBCC0001
    s.protocol.add().protocol_id.id = 200
    p = s.protocol.add()
    p.protocol_id.id = 301
    p.Extensions[pb.ip4].src_ip = ip4("10.1.1.100")
    p.Extensions[pb.ip4].dst_ip = ip4("10.2.2.100")
    p = s.protocol.add()
    p.protocol_id.id = 400
    tcp = p.Extensions[pb.tcp]
    tcp.is_override_src_port = tcp.is_override_dst_port = True
    tcp.src_port, tcp.dst_port, tcp.flags, tcp.seq_num = 40000, 8080, 0x02, 100
    vf = p.variable_field.add()
    vf.type, vf.offset, vf.mask, vf.value, vf.count, vf.step = vf.kCounter16, 0, 0xFFFF, 40000, packets, 1
    return s


def add_stream(drone, port: int, stream):
    """addStream + modifyStream of one stream; returns (its id list, its config list)."""
    ids = drone.stream_id_list(port, [stream.stream_id.id])
    drone.addStream(ids)
    cfg = drone.pb.StreamConfigList(port_id=drone.pb.PortId(id=port))
    cfg.stream.append(stream)
    drone.modifyStream(cfg)
    return ids, cfg


def test_stream_add_modify_read_back_delete(drone, lab):
    pb = drone.pb
    port = drone.find_port("porta")
    ids, cfg = add_stream(drone, port, _tcp_stream(pb, 77, dut_mac(lab, "dut-a"), packets=1234))

    got = drone.getStreamConfig(ids).stream[0]
    assert [p.protocol_id.id for p in got.protocol] == [100, 200, 301, 400]
    assert got.control.num_packets == 1234
    tcp = got.protocol[3].Extensions[pb.tcp]
    assert (tcp.src_port, tcp.dst_port, tcp.flags, tcp.seq_num) == (40000, 8080, 0x02, 100)
    vf = got.protocol[3].variable_field[0]
    assert (vf.offset, vf.value, vf.count, vf.step) == (0, 40000, 1234, 1)
    assert got.protocol[2].Extensions[pb.ip4].dst_ip == ip4("10.2.2.100")

    # modify: a new TCP window reads back
    cfg.stream[0].protocol[3].Extensions[pb.tcp].window = 4321
    drone.modifyStream(cfg)
    assert drone.getStreamConfig(ids).stream[0].protocol[3].Extensions[pb.tcp].window == 4321

    drone.deleteStream(ids)
    assert 77 not in [s.id for s in drone.getStreamIdList(pb.PortId(id=port)).stream_id]


def test_device_groups_resolve_the_dut_gateways(drone, lab):
    pb, emul = drone.pb, drone.emul
    for port_name, addr, gw, dut_if in (("porta", "10.1.1.100", "10.1.1.1", "dut-a"),
                                         ("portb", "10.2.2.100", "10.2.2.1", "dut-b")):
        port = drone.find_port(port_name)
        ids = pb.DeviceGroupIdList(port_id=pb.PortId(id=port))
        ids.device_group_id.add().id = 5
        drone.addDeviceGroup(ids)
        cfg = pb.DeviceGroupConfigList(port_id=pb.PortId(id=port))
        g = cfg.device_group.add()
        g.device_group_id.id = 5
        g.core.name = "test"
        g.device_count = 1
        g.Extensions[emul.mac].address = 0x02AABBCC0100 + port
        g.Extensions[emul.ip4].address = ip4(addr)
        g.Extensions[emul.ip4].prefix_length = 24
        g.Extensions[emul.ip4].default_gateway = ip4(gw)
        drone.modifyDeviceGroup(cfg)
        drone.resolveDeviceNeighbors(drone.port_id_list([port]))
        arp = {}
        for _ in range(50):
            nbrs = drone.getDeviceNeighbors(pb.PortId(id=port))
            arp = {e.ip4: e.mac for dn in nbrs.Extensions[emul.device_neighbor] for e in dn.arp}
            if arp.get(ip4(gw)):
                break
            time.sleep(0.1)
        assert arp.get(ip4(gw)) == dut_mac(lab, dut_if), f"{port_name}: gateway {gw} not resolved: {arp}"


def test_build_and_transmit_ten_packets(drone, lab):
    pb = drone.pb
    port = drone.find_port("porta")
    add_stream(drone, port, _tcp_stream(pb, 1, dut_mac(lab, "dut-a"), packets=10))
    drone.clearStats(drone.port_id_list([port]))
    tx0 = drone.settled_stats([port])[port].tx_pkts
    rx0 = dut_rx_packets(lab, "dut-a")
    drone.build(pb.BuildConfig(port_id=pb.PortId(id=port)))
    t0 = time.monotonic()
    drone.startTransmit(drone.port_id_list([port]))
    assert time.monotonic() - t0 < 1.0  # pre-built: startTransmit returns at once
    drone.wait_transmit_done([port], timeout=10)
    tx = drone.settled_stats([port], expected_tx={port: tx0 + 10})[port].tx_pkts
    time.sleep(1.5)  # one more counter refresh: nothing beyond the 10
    assert tx - tx0 == 10 == drone.stats([port])[port].tx_pkts - tx0
    assert dut_rx_packets(lab, "dut-a") - rx0 == 10


def test_notifications_from_real_drone_are_skipped(drone, lab):
    pb = drone.pb
    other = open_drone(lab.drone_a["host"], lab.drone_a["port"])
    port = drone.find_port("portb")
    before = drone.notifications_seen
    try:
        change = pb.PortConfigList()
        p = change.port.add()
        p.port_id.id = port
        p.user_name = "ostinato-tcp-test"
        other.modifyPort(change)  # Drone tells every other client that the port changed
        time.sleep(0.3)
        assert drone.port_config(port).user_name == "ostinato-tcp-test"
        assert drone.notifications_seen > before
    finally:
        p.user_name = ""
        other.modifyPort(change)
        other.disconnect()


def test_drone_killed_in_the_middle_of_an_rpc(lab):
    """A second Drone builds 300,000 packets; it is killed while the build RPC waits."""
    ns = lab.drone_a["namespace"]
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "drone", "-p", "7899"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = None
        for _ in range(100):
            try:
                client = DroneClient(lab.drone_a["host"], 7899, timeout=2).connect()
                break
            except DroneError:
                time.sleep(0.1)
        assert client is not None, "second Drone did not start"
        pb = client.pb
        port = client.find_port("porta")
        add_stream(client, port, _tcp_stream(pb, 1, 0x02AABBCC0002, packets=300000))
        threading.Timer(1.0, lambda: os.killpg(proc.pid, signal.SIGKILL)).start()
        t0 = time.monotonic()
        with pytest.raises(DroneProtocolError, match=r"build: connection lost"):
            client.build(pb.BuildConfig(port_id=pb.PortId(id=port)), timeout=60)
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _pcap_frames(pcap: bytes) -> list[bytes]:
    import struct

    order = "<" if pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    frames, off = [], 24
    while off + 16 <= len(pcap):
        incl = struct.unpack(order + "IIII", pcap[off:off + 16])[2]
        frames.append(pcap[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def test_capture_on_a_port(drone, lab):
    """startCapture / stopCapture / getCaptureBuffer: what the DUT sends out of port B after
    ten SYNs from port A (the forwarded SYNs, or its ARP for the absent server) comes back
    as pcap bytes."""
    pb = drone.pb
    a, b = drone.find_port("porta"), drone.find_port("portb")
    add_stream(drone, a, _tcp_stream(pb, 1, dut_mac(lab, "dut-a"), packets=10))
    drone.startCapture(drone.port_id_list([b]))
    drone.build(pb.BuildConfig(port_id=pb.PortId(id=a)))
    drone.startTransmit(drone.port_id_list([a]))
    drone.wait_transmit_done([a], timeout=10)
    time.sleep(1.5)
    drone.stopCapture(drone.port_id_list([b]))
    pcap = drone.getCaptureBuffer(pb.PortId(id=b))
    assert pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    frames = _pcap_frames(pcap)
    arp = [f for f in frames if f[12:14] == b"\x08\x06"]
    syns = [f for f in frames if f[12:14] == b"\x08\x00" and f[26:34] == bytes([10, 1, 1, 100, 10, 2, 2, 100])
            and f[23] == 6]
    assert arp or syns, f"{len(frames)} frames, none from the DUT's forwarding of the SYNs"
