"""Tear-down (``traffic.teardown``): after the verdict (and the hold), Drone closes every
connection and the DUT's table is read again to prove what became of each one.

``rst``: port A sends one RST per connection (seq = client ISN + 1, the next byte the DUT
expects from it): conntrack moves the entry to CLOSE (10 s by default), then drops it.
``fin``: A's FIN, B's FIN-ACK, A's last ACK, planned and ordered exactly like the
handshake (same mode, delay, batches) by the same :class:`~ostinato_tcp.run.send.Sender`:
the entry goes FIN_WAIT, LAST_ACK, then TIME_WAIT (120 s by default).

A connection is closed when its entry is in the end state (CLOSE, TIME_WAIT) or gone.
Two rates are measured (docs/figures.md):

* the offered tear-down rate: the first leg's packets (RSTs, FINs) per second as Drone
  sent them, timed like the offered connection rate;
* the DUT's retire rate: the test's entries that left ESTABLISHED, over the time they took,
  from counts of the test's ESTABLISHED entries polled on the DUT during the tear-down
  (the bound comes from the polls' spacing and duration).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ostinato_tcp.ground.addr import host_port
from ostinato_tcp.run.reports import Poll, TeardownReport
from ostinato_tcp.run.result import PortReport, Traffic
from ostinato_tcp.run.send import Sender
from ostinato_tcp.domain.streams import isns_after, legs_for
from ostinato_tcp.domain.tuples import Servers

if TYPE_CHECKING:
    from ostinato_tcp.domain.verdict import Expected
    from ostinato_tcp.dut.contract import DutDriver
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.drone.port import DronePort
    from ostinato_tcp.run.events import RunEvents

POLL_GAP = 0.05  # seconds between the ESTABLISHED-count polls, at least as long as the last poll took
# (listing the test's entries costs the DUT CPU: polls take at most about half of one core)
SETTLE_POLLS = 3  # equal counts in a row after the send: the DUT has finished retiring


class RetirePoller(threading.Thread):
    """Counts the test's ESTABLISHED entries on the DUT, from before the first tear-down packet
    until the count stops moving after the send."""

    def __init__(self, dut: "DutDriver", servers):
        super().__init__(daemon=True)
        self.dut, self.servers = dut, servers
        self.polls: list[Poll] = []
        self.sent = threading.Event()  # set when the tear-down traffic is all sent
        self.done = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            while True:
                t0 = time.monotonic()
                n = self.dut.count_space(self.servers, state="ESTABLISHED")
                self.polls.append(Poll(t0, time.monotonic(), n))
                last = [p.established for p in self.polls[-SETTLE_POLLS:]]
                if self.sent.is_set() and len(last) == SETTLE_POLLS and len(set(last)) == 1:
                    break
                if self.sent.is_set() and time.monotonic() - self._sent_at > 60:
                    break
                time.sleep(max(POLL_GAP, self.polls[-1].end - self.polls[-1].start))
        except Exception as exc:  # noqa: BLE001 - reported with the figures, never fatal
            self.error = exc
        finally:
            self.done.set()

    def mark_sent(self) -> None:
        self._sent_at = time.monotonic()
        self.sent.set()


def teardown_phase(r, *, dut: "DutDriver", ports: dict[str, "DronePort"], events: "RunEvents",
                   opts: "RunOptions", wires: dict) -> None:
    """``traffic.teardown`` of run result ``r``: the close and each connection's state after it, or
    why there was none."""
    sc = r.scenario
    if sc.traffic.teardown == "none":
        return
    established = r.passed  # the verdict and the hold, before the tear-down is part of it
    r.teardown = TeardownReport(mode=sc.traffic.teardown)
    if not established:
        r.teardown.skipped = "the verdict or the hold failed: nothing to close"
        return
    tear_down(r.teardown, dut=dut, ports=ports, plan=r.plan, expected=r.expected, freshness=r.freshness,
              events=events, opts=opts, wires=wires)
    r.diagnosis.extend(f"tear-down: {line}" for line in r.teardown.diagnosis)


def tear_down(report: TeardownReport, *, dut: "DutDriver", ports: dict[str, "DronePort"], plan: "Plan",
              expected: "Expected", freshness: dict, events: "RunEvents", opts: "RunOptions",
              wires: dict) -> TeardownReport:
    """Send the tear-down legs, poll the DUT's ESTABLISHED count meanwhile, then dump and judge
    each connection's state (filling ``report``)."""
    sc = plan.scenario
    legs = legs_for(report.mode, *isns_after(sc))  # past the data segments when the traffic proof sent them
    traffic = report.traffic = Traffic(ports={side: PortReport(name=p.name, drone=p.drone.endpoint)
                                              for side, p in ports.items()}, timings={"build": 0.0, "send": 0.0})
    report.health_before = dut.health()
    events.phase("teardown", f"closing every connection ({report.mode}: {', '.join(legs.roles)})")
    poller = RetirePoller(dut, Servers.of(sc.connections))
    sender = Sender(plan, ports, traffic, events, opts, dut=dut, expected=expected, legs=legs, wires=wires)
    sender.take_baseline()
    poller.start()
    try:
        while not poller.polls and not poller.done.is_set():
            time.sleep(0.01)  # the count before the first packet
        for batch in plan.batches:
            events.batch_started(batch, len(plan.batches))
            sender.send_batch(batch)
    finally:
        poller.mark_sent()
    sender.after_send()
    poller.done.wait(120)
    report.polls = list(poller.polls)
    report.poll_error = str(poller.error) if poller.error else None
    events.phase("teardown", "dumping the DUT's conntrack table and judging each connection's state")
    report.health_after = dut.health()
    report.verdict, report.dump = dut.verify(expected, fresh=freshness, track_states=True)
    v = report.verdict
    report.closed = v.counts["missing"] + sum(v.states.get(s, 0) for s in report.end_states)
    report.closed = min(report.closed, v.expected)
    report.diagnosis = diagnose_teardown(report, expected)
    return report


# What a connection left in a state says about which leg was lost (kernel TCP tracking:
# docs/how-it-works.md, "Tear-down").
_FIN_CAUSES = {
    "ESTABLISHED": "A's FIN never reached the DUT (port A's FIN stream), or came out of window",
    "FIN_WAIT": "B's FIN-ACK never reached the DUT (port B's FIN-ACK stream, its ARP or the route back), or came "
                "before A's FIN and was dropped as invalid",
    "CLOSE_WAIT": "B's FIN-ACK was taken before A's FIN: the order broke",
    "LAST_ACK": "A's last ACK never reached the DUT, or came before B's FIN-ACK and was dropped as invalid",
}
_RST_CAUSES = {
    "ESTABLISHED": "the RST never reached the DUT (port A's RST stream, its ARP or route), or was outside the "
                   "window the DUT keeps for the client",
}


def diagnose_teardown(report: TeardownReport, expected: "Expected") -> list[str]:
    v = report.verdict
    if v is None or report.passed:
        return []
    out = []
    t = report.traffic
    for side, p in (t.ports.items() if t else []):
        if p.shortfall:
            out.append(f"port {side.upper()} ({p.name}) sent {p.sent_packets} of the {p.expected_packets} tear-down "
                       "packets the plan said")
    inv = report.counter_deltas.get("invalid", 0)
    causes = _FIN_CAUSES if report.mode == "fin" else _RST_CAUSES
    for state, n in sorted(v.states.items(), key=lambda kv: -kv[1]):
        if state in report.end_states:
            continue
        ids = v.connections_in_state(state, 3)
        shown = ", ".join(host_port(o[0], o[2]) for o in (expected.original_of(i) for i in ids))
        cause = causes.get(state, "a state the tear-down does not lead to")
        out.append(f"{n} in {state} after the tear-down" + (f" (e.g. {shown})" if shown else "")
                   + f": {cause} (the DUT's invalid counter rose by {inv} during the tear-down).")
    return out
