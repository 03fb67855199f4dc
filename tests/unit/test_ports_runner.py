"""DronePort and Runner against the in-memory FakeDrone and a scripted DUT: the order of the
phases, the port's state machine, id allocation, and the clean-up after a fault in every phase."""

from __future__ import annotations

import pytest

from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.errors import DroneProtocolError, DroneTimeoutError, UsageError
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.ground.naming import is_ours
from ostinato_tcp.drone.port import DronePort, PortState, PortStateError
from ostinato_tcp.run.connect import release_all
from ostinato_tcp.run.runner import Runner
from ostinato_tcp.domain.streams import DeviceSpec, StreamSpec

from .fakes import ScriptedDut
from .helpers import scenario

# 200 connections at 100,000/s: the plan is phased (margins below min_margin), runs in ms
FAST = {"connections.count": 200, "traffic.rate": 100_000, "ports.a.interface": "porta",
        "ports.b.interface": "portb"}


def spec(name="ostinato-tcp:t:syn", count=10, **kw) -> StreamSpec:
    return StreamSpec(name=name, to_server=True, flags=2, client_ip=0x0A010164, client_port=1000,
                      server_ip=0x0A020264, server_port=80, seq=1, ack=0, count=count, rate=1000.0,
                      client_port_count=count, **kw)


def foreign_stream(drone: FakeDrone, port: str, sid: int, name="alices", enabled=True) -> None:
    p = drone.port_named(port)
    drone.addStream(drone.stream_id_list(p.id, [sid]))
    cfg = drone.pb.StreamConfigList()
    cfg.port_id.id = p.id
    s = cfg.stream.add()
    s.stream_id.id, s.core.name, s.core.is_enabled = sid, name, enabled
    drone.modifyStream(cfg)


def nothing_of_ours(drone: FakeDrone) -> bool:
    return not any(is_ours(s.core.name) for p in drone.ports.values() for s in p.streams.values()) and \
        not any(is_ours(g.core.name) for p in drone.ports.values() for g in p.groups.values())


# ---------------------------------------------------------------------------- DronePort
def test_a_capture_stop_that_never_returns_names_drones_deadlock(monkeypatch):
    drone = FakeDrone().connect()
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    port.claim()
    port.start_capture()

    def wedged(request, *, timeout=None):
        raise DroneTimeoutError("no reply within 10 s", endpoint="fake:7878", rpc="stopCapture")

    monkeypatch.setattr(drone, "stopCapture", wedged)
    with pytest.raises(DroneTimeoutError, match="stopCapture: no reply within 10 s; Drone did not stop this port's "
                                                "capture: the thread can deadlock"):
        port.stop_capture()
    assert port.capturing  # still open: the clean-up tries again, and says so in its warning
    # the run's clean-up warns, putting the restart before the clean-up command (which would wait on
    # the same lock)
    warnings: list[str] = []
    release_all({"a": port}, {}, warnings)
    assert "can deadlock" in warnings[0] and "restarted" in warnings[0]
    assert len(warnings) == 1 and "; once Drone is restarted, 'ostinato-tcp cleanup SCENARIO'" in warnings[0]


def test_a_device_group_delete_that_never_returns_names_the_emulation_deadlock(monkeypatch):
    drone = FakeDrone().connect()
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    port.claim()
    port.add_devices(DeviceSpec(name="c", ip_base=0x0A010164, count=2, prefix=24, gateway=0x0A010101))

    def wedged(request, *, timeout=None):
        raise DroneTimeoutError("no reply within 10 s", endpoint="fake:7878", rpc="deleteDeviceGroup")

    monkeypatch.setattr(drone, "deleteDeviceGroup", wedged)
    warnings: list[str] = []
    release_all({"a": port}, {}, warnings)
    assert port.wedged and len(warnings) == 1
    assert "deleteDeviceGroup: no reply within 10 s; Drone did not stop this port's device emulation" in warnings[0]
    assert "; once Drone is restarted, 'ostinato-tcp cleanup SCENARIO'" in warnings[0]


def test_a_leftover_with_every_capture_stopped_asks_for_cleanup_only(monkeypatch):
    drone = FakeDrone().connect()
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    port.claim()
    monkeypatch.setattr(port.claim_, "release", lambda: ["porta: deleteStream failed"])
    warnings: list[str] = []
    release_all({"a": port}, {}, warnings)
    assert warnings == ["could not remove or restore what the run changed on Drone (porta: deleteStream failed); "
                        "'ostinato-tcp cleanup SCENARIO' removes what it created"]


def test_port_refuses_calls_out_of_order():
    drone = FakeDrone().connect()
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    with pytest.raises(PortStateError, match="load is not possible in state 'free'"):
        port.load([spec()])
    port.claim()
    with pytest.raises(PortStateError, match="build is not possible in state 'claimed'"):
        port.build(timeout=5)
    port.load([spec()])
    with pytest.raises(PortStateError, match="start is not possible in state 'loaded'"):
        port.start()
    port.build(timeout=5)
    port.start()
    assert port.state == PortState.TRANSMITTING
    with pytest.raises(PortStateError, match="load is not possible in state 'transmitting'"):
        port.load([spec()])
    while port.poll()[0]:
        pass
    assert port.state == PortState.STOPPED
    port.load([spec(count=3)])  # the next phase reuses the stream id
    assert port.state == PortState.LOADED
    port.release()
    assert port.state == PortState.RELEASED
    with pytest.raises(PortStateError):
        port.claim()


def test_ids_come_from_what_the_port_holds_and_release_restores_it():
    drone = FakeDrone().connect()
    foreign_stream(drone, "porta", 1)
    foreign_stream(drone, "porta", 7, name="bobs", enabled=False)
    fp = drone.port_named("porta")
    fp.user_name, fp.transmit_mode = "alice", 1
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    with pytest.raises(UsageError, match="reserved by user 'alice'"):
        port.claim()
    assert fp.user_name == "alice"  # a refused claim changes nothing
    port = DronePort(drone, "porta", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    port.claim(take_over=True)
    assert fp.user_name.startswith("ostinato-tcp run") and fp.transmit_mode == 0
    assert fp.streams[1].core.is_enabled is False  # the foreign enabled stream is off for the run
    port.load([spec(), spec("ostinato-tcp:t:ack")])
    assert port.stream_ids == [8, 9]  # above every id the port holds
    gid = port.add_devices(DeviceSpec("ostinato-tcp:t:a", 0x0A010164, 1, 24, 0x0A010101))
    assert gid == 1
    assert port.release() == []
    assert sorted(fp.streams) == [1, 7] and fp.streams[1].core.is_enabled and not fp.streams[7].core.is_enabled
    assert fp.groups == {} and fp.user_name == "alice" and fp.transmit_mode == 1


def test_port_of_a_live_run_is_never_taken_over():
    drone = FakeDrone().connect()
    import os
    import socket

    live = f"ostinato-tcp run pid {os.getpid()} on {socket.gethostname()} by u (scenario other)"
    drone.port_named("portb").user_name = live
    foreign_stream(drone, "portb", 3, name="ostinato-tcp:other:synack")
    port = DronePort(drone, "portb", owner="ostinato-tcp run pid 1 on h by u (scenario t)")
    with pytest.raises(UsageError, match="never takes a port from a run that may be live"):
        port.claim(take_over=True)
    assert 3 in drone.port_named("portb").streams and drone.port_named("portb").user_name == live


# ---------------------------------------------------------------------------- Runner
def run_on_fakes(drone: FakeDrone, dut: ScriptedDut, opts: RunOptions | None = None, **changes):
    sc = scenario(**{**FAST, **changes})
    runner = Runner(sc, opts or RunOptions(poll_interval=0), drone_opener=lambda host, port: drone.connect(),
                    dut_opener=lambda sc_, opts_: dut)
    return runner.run()


def test_runner_sequences_the_phases_and_leaves_the_ports_clean():
    drone, dut = FakeDrone(arp_per_start=1), ScriptedDut()
    r = run_on_fakes(drone, dut)
    assert r.passed, (r.error, r.diagnosis)
    assert r.ports["a"].sent_packets == 400 and r.ports["b"].sent_packets == 200
    # ARP frames, counted apart by their size: one reply per start (the probe's, the SYN and ACK
    # phases) and the gateway's ARP after the send (is its MAC still the one the frames went to?)
    assert r.ports["a"].other_frames == 4 and r.ports["a"].frames_exact
    order = [c for c in drone.calls if c in ("modifyPort", "addDeviceGroup", "resolveDeviceNeighbors", "addStream",
                                             "build", "startTransmit", "deleteStream", "deleteDeviceGroup")]
    first = {name: order.index(name) for name in reversed(order)}
    assert first["modifyPort"] < first["addDeviceGroup"] < first["resolveDeviceNeighbors"] < first["addStream"] \
        < first["build"] < first["startTransmit"] < first["deleteStream"] < first["deleteDeviceGroup"]
    # the plan's health; the clear (the probe's entries too), the counters the run starts from, the read-back;
    # the verdict; clear_after, then its empty twin (the delete rate)
    assert dut.calls == ["health", "clear", "health", "prove_fresh_start", "health", "verify", "clear", "clear"]
    assert nothing_of_ours(drone) and all(p.user_name == "" for p in drone.ports.values()) and dut.closed


def test_a_port_that_sent_less_than_planned_cannot_pass():
    drone, dut = FakeDrone(), ScriptedDut()  # the DUT's table shows every connection anyway
    r = run_on_fakes(drone, dut, RunOptions(poll_interval=0, disable_stream="synack"))
    assert r.verdict.passed and not r.passed and r.outcome == "inconclusive" and r.exit_code == 4
    assert r.ports_short == ["b"] and r.ports["b"].sent_packets == 0
    assert "port B (portb) sent 0 of the 200 TCP packets the plan said: the traffic, not the DUT" \
        in r.decision.reasons
    assert any("sent 0 of the 200 TCP packets" in d for d in r.diagnosis)


DRONE_FAULTS = ["getPortConfig", "modifyPort", "getStreamIdList", "addDeviceGroup", "modifyDeviceGroup",
                "resolveDeviceNeighbors", "getDeviceNeighbors", "addStream", "modifyStream", "build",
                "startTransmit", "getStats"]


@pytest.mark.parametrize("rpc", DRONE_FAULTS)
@pytest.mark.parametrize("lost", [False, True], ids=["error-reply", "connection-lost"])
def test_a_drone_fault_in_any_phase_leaves_nothing_and_restores_the_port(rpc, lost):
    drone, dut = FakeDrone(), ScriptedDut()
    foreign_stream(drone.connect(), "porta", 1)
    drone.port_named("porta").transmit_mode = 1
    drone.port_named("portb").user_name = "alice"
    calls = 3 if rpc == "getPortConfig" else 1  # the first looks are the claim's own reads
    drone.fail(rpc, DroneProtocolError("injected: connection lost", rpc=rpc) if lost else None, on_call=calls)
    r = run_on_fakes(drone, dut, RunOptions(poll_interval=0, take_over_ports=True))
    assert r.error and "injected" in r.error and r.outcome == "error" and r.exit_code == 3
    assert nothing_of_ours(drone)
    a, b = drone.port_named("porta"), drone.port_named("portb")
    assert a.streams[1].core.is_enabled and a.transmit_mode == 1 and a.user_name == "" and b.user_name == "alice"
    assert not a.tx_until and not b.tx_until  # nothing left transmitting
    assert drone.fired_at is not None
    if "startTransmit" in drone.calls[:drone.fired_at + 1]:
        assert "stopTransmit" in drone.calls[drone.fired_at:]  # a port that was started is stopped on the fault
    assert dut.closed


@pytest.mark.parametrize("method", ["health", "clear", "prove_fresh_start", "verify"])
def test_a_dut_fault_in_any_phase_leaves_nothing_on_drone(method):
    drone, dut = FakeDrone(), ScriptedDut(fail=method)
    r = run_on_fakes(drone, dut)
    assert r.error == f"injected DUT fault in {method}" and r.exit_code == 3
    assert nothing_of_ours(drone) and all(p.user_name == "" for p in drone.ports.values())
    if method == "health":
        assert "modifyPort" not in drone.calls  # refused before any port was touched


# ---------------------------------------------------------------------------- Drone's build form
def stream_forms(drone: FakeDrone, port: str) -> set[tuple[bool, bool]]:
    """(fixed MACs, checksums given) of the streams a port holds now."""
    out = set()
    for s in drone.port_named(port).streams.values():
        mac, ip4 = s.protocol[0].Extensions[drone.pb.mac], s.protocol[2].Extensions[drone.pb.ip4]
        out.add((mac.src_mac_mode == drone.pb.Mac.e_mm_fixed, ip4.is_override_cksum))
    return out


def test_fast_build_is_checked_on_a_capture_then_used(monkeypatch):
    import ostinato_tcp.drone.port as P

    seen = {}
    real_unload = P.DronePort.unload

    def look_then_unload(self):  # the streams of the last phase, before they are removed
        seen[self.name] = stream_forms(self.drone, self.name)
        return real_unload(self)

    monkeypatch.setattr(P.DronePort, "unload", look_then_unload)
    drone, dut = FakeDrone(), ScriptedDut()
    r = run_on_fakes(drone, dut)
    assert r.passed and r.plan.fast
    (check,) = r.build_checks  # one Drone: checked once
    assert check["form"] == "fast" and check["frames_checked"] == 3000 and check["bad_frames"] == 0
    assert "startCapture" in drone.calls and "stopCapture" in drone.calls
    assert seen["porta"] == {(True, True)} and seen["portb"] == {(True, True)}


def test_wrong_fast_frames_fall_back_to_resolve(monkeypatch):
    drone, dut = FakeDrone(), ScriptedDut()
    r = run_on_fakes(drone, dut, RunOptions(poll_interval=0, fault_fast_build=1))
    assert r.passed and not r.plan.fast
    (check,) = r.build_checks
    assert check["form"] == "resolve" and check["bad_frames"] == 3000
    assert any("the fast build is not used" in w and "3000 of 3000 captured probe frames had a wrong checksum" in w
               for w in r.warnings)
    assert nothing_of_ours(drone)
