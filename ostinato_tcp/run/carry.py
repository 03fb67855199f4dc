"""The traffic proof's phase (``expect.proof: [table, traffic]``): after the verdict on the
table, one data segment per connection each way, captured on both ports and judged per
connection (:mod:`ostinato_tcp.domain.carry`).

Both ports send their segments at the plan's rate, started together: each direction's
segment is in the window the DUT keeps for that side, whichever arrives first. Drone
captures on both ports from before the first segment until every one has had
:attr:`~ostinato_tcp.drone.port.DronePort.capture_settle` to arrive; the captures are read
after the send, in the tool's process (their size is in the report: about 100 bytes per
frame, four frames per connection).
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from ostinato_tcp.domain.carry import A_TO_B, B_TO_A, Arrivals, CarryJudge, places, port_tags
from ostinato_tcp.domain.streams import client_program, learned_runs, legs_for, server_program, server_runs
from ostinato_tcp.domain.verdict import PASS
from ostinato_tcp.ground.addr import host_port
from ostinato_tcp.ground.pcap import tcp_segments
from ostinato_tcp.run.reports import CarryReport, PortReport, Traffic
from ostinato_tcp.run.transmit import Transmitter, build_ports

if TYPE_CHECKING:
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.domain.tuples import Batch
    from ostinato_tcp.domain.verdict import Expected, Verdict
    from ostinato_tcp.drone.port import DronePort
    from ostinato_tcp.run.events import RunEvents

RESOLVE_COST = 3.0  # build headroom: data streams over several client addresses take the resolve form


def carry_phase(r, *, ports: dict[str, "DronePort"], events: "RunEvents", wires: dict) -> None:
    """The traffic proof of run result ``r``, or why there was none."""
    sc = r.scenario
    if "traffic" not in sc.expect.proof:
        return
    r.carry = CarryReport()
    if r.verdict is None and "table" in sc.expect.proof:
        r.carry.skipped = "no verdict on the table: nothing to send data over"
        return
    carry(r.carry, ports=ports, plan=r.plan, expected=r.expected, events=events, wires=wires)
    r.carry.diagnosis = diagnose_carry(r.carry, r.verdict, r.expected)
    r.diagnosis.extend(f"traffic proof: {line}" for line in r.carry.diagnosis)


def data_programs(plan: "Plan", batch: "Batch", expected: "Expected", wires: dict,
                  tags: tuple[int, int]) -> tuple[list, list]:
    """Port A's and port B's data programs for the connections of ``batch``."""
    sc = plan.scenario
    legs = legs_for("data", sc.traffic.client_isn, sc.traffic.server_isn)
    runs = plan.space.stream_runs(batch)
    prog_a = client_program(sc, runs, syn=True, ack=False, wire=wires.get("a"), legs=legs, rate=plan.rate,
                            tag=tags[0])
    nat = sc.nat
    if nat.mode == "learn":
        dests, _ = learned_runs(expected, batch.first, batch.count)
    else:
        dests = server_runs(runs, int(nat.address) if nat.mode == "preserve-ports" else None)
    prog_b = server_program(sc, dests, wire=wires.get("b"), legs=legs, rate=plan.rate, tag=tags[1])
    return prog_a, prog_b


def program_places(sc, expected: "Expected", prog_a: list, prog_b: list, translations: dict | None = None):
    """Which connection each place of A's and B's data programs is (``translations``: NAT learn's
    translated (address, port) -> connection)."""
    index_of = expected.space.indexer()
    place_a = places(prog_a, index_of)
    mode = sc.nat.mode
    if mode == "preserve-ports":  # B's runs are A's, to the NAT's address: the same places
        place_b = place_a
    elif mode == "learn":
        place_b = places(prog_b, lambda ip, port: translations.get((ip, port), -1))
    else:
        place_b = places(prog_b, index_of)
    return place_a, place_b


def carry(report: CarryReport, *, ports: dict[str, "DronePort"], plan: "Plan", expected: "Expected",
          events: "RunEvents", wires: dict) -> CarryReport:
    """Per batch of the plan: send its data segments with both ports capturing, and judge what
    crossed (filling ``report``). A port's capture holds one batch: two frames per connection
    (its own segment and the other port's)."""
    sc = plan.scenario
    a, b = ports["a"], ports["b"]
    tags = port_tags(secrets.randbits(32))
    traffic = report.traffic = Traffic(ports={side: PortReport(name=p.name, drone=p.drone.endpoint)
                                              for side, p in ports.items()}, timings={"build": 0.0, "send": 0.0})
    for rep in traffic.ports.values():
        rep.expected_packets = plan.total
    judge = CarryJudge(expected, Arrivals(expected, sc.traffic.client_isn, sc.traffic.server_isn), tags)
    translations = None
    if sc.nat.mode == "learn":
        translations = {(expected.learned_ip[n], expected.learned_port[n]): n for n in range(expected.space.total)
                        if expected.learned_ip[n]}
    tx = Transmitter(traffic, events, window=False)
    tx.baseline_tx.update({side: p.counters().tx_frames for side, p in ports.items()})
    for batch in plan.batches:
        events.phase("traffic", f"batch {batch.index + 1}: a data segment each way over its {batch.count:,} "
                                f"connection(s), from {a.name} and {b.name}, both ports capturing")
        prog_a, prog_b = data_programs(plan, batch, expected, wires, tags)
        a.load(prog_a)
        b.load(prog_b)
        build_ports([a, b], per_packet=plan.build_per_packet * RESOLVE_COST, traffic=traffic,
                    hint=lambda p: " Check that the DUT answers ARP for the destination or gateway of that port's "
                                   "packets")
        before = {side: p.counters() for side, p in ports.items()}
        for p in (a, b):
            p.start_capture()
        opened = time.monotonic()
        # a fault in here leaves the captures open: the run's clean-up stops the ports first and
        # lets them go quiet before it stops a capture (Drone 1.2 can deadlock one stopped mid-frame)
        time.sleep(max(0.0, opened + max(a.capture_open, b.capture_open) - time.monotonic()))
        t0 = time.monotonic()
        got = tx.run({"a": a, "b": b}, {"a": batch.count / plan.rate, "b": batch.count / plan.rate})
        traffic.timings["send"] += time.monotonic() - t0
        for side, iv in got.items():
            traffic.ports[side].transmit += iv
        time.sleep(max(a.capture_settle, b.capture_settle))
        delta = {side: p.counters() - before[side] for side, p in ports.items()}
        pcaps = {side: p.stop_capture() for side, p in (("a", a), ("b", b))}
        t1 = time.monotonic()
        for side, data in pcaps.items():
            report.capture_bytes[side] = report.capture_bytes.get(side, 0) + len(data)
        judge.place_a, judge.place_b = program_places(sc, expected, prog_a, prog_b, translations)
        for side in ("a", "b"):
            own, other = judge.read(side, tcp_segments(pcaps.pop(side)))
            report.lossy = report.lossy or capture_gap(ports[side].name, batch, delta[side], own, other)
        report.read_seconds += time.monotonic() - t1
    report.verdict = judge.finish()
    for side, bit in (("a", A_TO_B), ("b", B_TO_A)):
        rep = traffic.ports[side]
        rep.sent_packets = report.verdict.count(bit, report.verdict.sent)
        rep.counted_by = "capture"
    return report


NOISE_FRAMES = 16  # frames a port may receive during a batch that are not the run's (ARP, neighbour discovery)


def capture_gap(name: str, batch: "Batch", delta, own: int, other: int) -> str:
    """Why a port's capture of a batch cannot be complete, from its counters (empty: no sign of it):
    it sent every segment but captured fewer, or it received clearly more frames than it captured
    segments of the other port. Counters that lag (Drone refreshes them once a second) only hide a gap."""
    if delta.tx_frames >= batch.count and own < batch.count:
        return (f"port {name} sent {delta.tx_frames} frames in batch {batch.index + 1} but its capture holds "
                f"{own} of its {batch.count} segments")
    if delta.rx_frames - other > max(NOISE_FRAMES, batch.count // 100):
        return (f"port {name} received {delta.rx_frames} frames in batch {batch.index + 1} but its capture holds "
                f"{other} segments of the other port")
    return ""


def diagnose_carry(report: CarryReport, table: "Verdict", expected: "Expected") -> list[str]:
    """What failed the traffic proof, most telling first."""
    v = report.verdict
    if v is None or v.passed:
        return []
    out = []
    by_traffic_only = table is None  # dut.kind none: every connection as if tracked, none judged on a table
    tracked = range(v.expected) if by_traffic_only else [i for i, code in enumerate(table.codes) if code == PASS]
    kinds = {0: 0, A_TO_B: 0, B_TO_A: 0}
    first: dict[int, list[int]] = {0: [], A_TO_B: [], B_TO_A: []}
    for i in tracked:
        c = v.crossed[i]
        if c != A_TO_B | B_TO_A and not v.changed[i] and (3 & ~c) & v.sent[i] == 3 & ~c:
            kinds[c] += 1
            if len(first[c]) < 3:
                first[c].append(i)

    def eg(ids: list[int]) -> str:
        return (" (e.g. " + ", ".join(host_port(*expected.original_of(i)[::2]) for i in ids) + ")") if ids else ""

    if kinds[0] and by_traffic_only:
        out.append(f"{kinds[0]} connection(s) carried nothing: both data segments left their ports and neither "
                   f"crossed the DUT{eg(first[0])} (its table is not read: whether it tracked them is not known)")
    elif kinds[0]:
        out.append(f"{kinds[0]} connection(s) that passed the table proof carried nothing: both data segments "
                   f"left their ports and neither crossed the DUT{eg(first[0])}: tracked but not forwarded (a "
                   "forwarding policy, or a DUT that drops what follows a handshake)")
    if kinds[A_TO_B]:
        out.append(f"{kinds[A_TO_B]} connection(s) forwarded one way only, towards the server: the server's segment "
                   f"did not reach the client{eg(first[A_TO_B])}")
    if kinds[B_TO_A]:
        out.append(f"{kinds[B_TO_A]} connection(s) forwarded one way only, towards the client: the client's segment "
                   f"did not reach the server{eg(first[B_TO_A])}")
    if v.mistranslated:
        fields = ", ".join(f"{f} {n}" for f, n in sorted(v.mistranslated.items(), key=lambda kv: -kv[1]))
        against = ("the translation the DUT's table holds for them" if not by_traffic_only else
                   "nat.address" if expected.nat_mode == "preserve-ports" else "the addresses and ports as sent")
        out.append(f"segments arrived changed ({fields}): mistranslated, against {against}; e.g. {v.samples[0]}"
                   if v.samples else f"segments arrived changed ({fields})")
    if report.unsent:
        out.append(f"{report.unsent} connection(s) lack a segment that never left its port (port A sent "
                   f"{v.sent_a:,}, port B {v.sent_b:,} of {v.expected:,}): the traffic, not the DUT")
    if by_traffic_only:
        return out
    untracked = v.expected - len(tracked)
    carried = sum(1 for i, code in enumerate(table.codes) if code != PASS and v.crossed[i])
    if untracked and carried:
        out.append(f"{carried} of the {untracked} connection(s) that failed the table proof still carried data one "
                   "way or both: the DUT forwards what its table does not hold as established")
    return out
