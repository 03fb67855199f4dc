"""Hold and recheck (``expect.hold``): after the verdict the connections stay idle (or get
keep-alive ACKs every ``traffic.keepalive`` seconds) for the hold, then the DUT is dumped
again and every connection must still be ESTABLISHED+ASSURED.

This catches DUTs whose established timeout is shorter than it should be and tables that
evict entries under pressure. The recheck is judged like the verdict (the same entries,
the same freshness proof: an entry is at most as old as the run), and its diagnosis says
what became of the connections that are gone or changed state.

The keep-alive ACK is the handshake's own ACK again (seq = client ISN + 1, ack = server
ISN + 1, each past the traffic proof's data segment when one was sent): a duplicate ACK
inside the window, which moves an ESTABLISHED entry's timer back to the established timeout.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ostinato_tcp.ground import signals as _signals
from ostinato_tcp.errors import RunFault
from ostinato_tcp.domain.streams import client_program, isns_after, legs_for
from ostinato_tcp.run.reports import HoldReport

if TYPE_CHECKING:
    from ostinato_tcp.domain.facts import Health
    from ostinato_tcp.domain.verdict import Expected
    from ostinato_tcp.dut.contract import DutDriver
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.drone.port import DronePort
    from ostinato_tcp.run.events import RunEvents
    from ostinato_tcp.domain.streams import Wire

TICK = 1.0  # seconds between progress events while holding


def hold_phase(r, *, dut: "DutDriver", port_a: "DronePort", events: "RunEvents", wire: "Wire | None") -> None:
    """``expect.hold`` of run result ``r``: the hold and recheck, or why there was none."""
    sc = r.scenario
    if not sc.expect.hold:
        return
    r.hold = HoldReport(requested=sc.expect.hold, keepalive=sc.traffic.keepalive)
    if not (r.verdict.passed and not r.ports_short):
        r.hold.skipped = "the verdict failed: nothing to hold"
        return
    hold_and_recheck(r.hold, dut=dut, port_a=port_a, plan=r.plan, expected=r.expected, freshness=r.freshness,
                     health_after=r.health_after, events=events, wire=wire, acked_at=r.traffic.last_leg_began)
    r.diagnosis.extend(f"after the hold: {line}" for line in r.hold.diagnosis)


def hold_and_recheck(report: HoldReport, *, dut: "DutDriver", port_a: "DronePort", plan: "Plan",
                     expected: "Expected", freshness: dict, health_after: "Health", events: "RunEvents",
                     wire: "Wire | None" = None, acked_at: float | None = None) -> HoldReport:
    """Hold, sending keep-alives if asked, then dump and judge again (filling ``report``).

    ``acked_at`` (monotonic) is when the first connections' ACKs began: their entries' timers
    run from then, so the first keep-alive round is due ``traffic.keepalive`` after it, not after
    the verdict's dump (which may itself take longer than the DUT's timeout leaves)."""
    sc = plan.scenario
    t0 = time.monotonic()
    end = t0 + report.requested
    refreshed = [acked_at if acked_at is not None else t0]  # when the first connections' ACKs went
    keep = report.keepalive
    if keep is not None and keep <= report.requested:
        runs = [r for b in plan.batches for r in plan.space.stream_runs(b)]
        legs = legs_for("handshake", *isns_after(sc))  # the handshake's ACK, past any data segments
        port_a.load(client_program(sc, runs, syn=False, ack=True, wire=wire, legs=legs, rate=plan.rate))
        port_a.build(timeout=max(60.0, 10 * plan.total * plan.build_per_packet))
    events.phase("hold", f"{report.requested:g} s, then every connection checked again"
                 + (f"; keep-alive ACKs every {keep:g} s" if keep else " (idle)"))
    tx0 = port_a.counters().tx_frames if keep else 0
    next_keep = refreshed[0] + keep if keep else None
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if next_keep is not None and now >= next_keep:
            refreshed.append(now)
            port_a.start()
            limit = time.monotonic() + 3 * plan.total / plan.rate + 10
            while port_a.poll()[0]:
                if time.monotonic() > limit:
                    raise RunFault(f"port {port_a.name}: a keep-alive round of {plan.total} ACKs was still being "
                                   f"sent after {3 * plan.total / plan.rate + 10:.0f} s")
                time.sleep(0.01)
            report.keepalive_rounds += 1
            next_keep = max(next_keep + keep, time.monotonic())
            continue
        events.holding(now - t0, report.requested, report.keepalive_rounds)
        wake = min(end, now + TICK, next_keep if next_keep is not None else end)
        time.sleep(max(0.0, wake - time.monotonic()))
        _signals.checkpoint()
    if keep:  # Drone refreshes its counters about once a second: the last round may not be in them yet
        report.keepalive_packets = _settled_tx(port_a, tx0, report.keepalive_rounds * plan.total)
    report.held = time.monotonic() - t0
    refreshed.append(time.monotonic())
    report.longest_idle = max(b - a for a, b in zip(refreshed, refreshed[1:]))
    events.phase("recheck", "dumping the DUT's conntrack table again and judging every connection")
    report.health = dut.health()
    report.verdict, report.dump = dut.verify(expected, fresh=freshness)
    report.diagnosis = diagnose_hold(report, health_after)
    return report


COUNTER_REFRESH = 1.5  # seconds: longer than Drone's counter refresh


def _settled_tx(port_a: "DronePort", tx0: int, expected: int) -> int:
    """Frames port A sent since ``tx0``, once its counters show ``expected`` or stop short of them
    after a full refresh."""
    deadline = time.monotonic() + COUNTER_REFRESH
    sent = port_a.counters().tx_frames - tx0
    while sent < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        sent = port_a.counters().tx_frames - tx0
    return sent


def diagnose_hold(report: HoldReport, health_after: "Health") -> list[str]:
    """What became of the connections that did not survive the hold, most likely cause first."""
    v, h = report.verdict, report.health
    if v is None or v.passed:
        return []
    c = v.counts
    deltas = health_after.deltas(h) if h is not None else {}
    est = h.established_timeout if h is not None else None
    idle = report.longest_idle or report.held
    out = []
    if c["missing"]:
        gone = f"{c['missing']} connection(s) lost their entry during the {report.held:.1f} s hold"
        evicted = {k: deltas[k] for k in ("early_drop", "drop") if deltas.get(k)}
        if est is not None and est <= idle:
            cause = (f"the DUT's established timeout is {est} s (nf_conntrack_tcp_timeout_established), not longer "
                     f"than the {idle:.1f} s the first of them stayed idle"
                     + ("; the keep-alive ACKs came too seldom" if report.keepalive else
                        "; traffic.keepalive below it would keep them"))
        elif evicted:
            cause = "the DUT evicted them (" + ", ".join(f"{k} +{n}" for k, n in evicted.items()) + ")"
        elif report.keepalive and report.keepalive_packets < report.keepalive_rounds * v.expected:
            cause = (f"port A sent {report.keepalive_packets} keep-alive ACKs in {report.keepalive_rounds} "
                     f"round(s), fewer than {v.expected} per round")
        else:
            cause = ("nothing in the DUT's counters or timeouts explains it: deleted on the DUT (conntrack -D/-F, "
                     "a ruleset reload or a flush) or timed out by a per-zone or per-rule timeout policy")
        out.append(f"{gone}: {cause}.")
    if c["other_state"]:
        states = ", ".join(f"{k} {n}" for k, n in sorted(v.other_states.items()))
        out.append(f"{c['other_state']} changed state during the hold ({states}): a FIN or RST reached the DUT "
                   "for them from somewhere")
    for key in ("established_not_assured", "syn_sent_unreplied", "syn_recv", "reply_mismatch", "older_than_the_run"):
        if c[key]:
            out.append(f"{c[key]} in {key} after the hold")
    return out
