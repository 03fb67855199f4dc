"""The terminal summary of a run, as plain lines (the CLI adds colour when it may)."""

from __future__ import annotations

from ostinato_tcp.domain.streams import DATA_BYTES
from ostinato_tcp.domain.verdict import per_endpoint
from ostinato_tcp.ground.measure import worst_order


OUTCOME_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "error": "ERROR"}


def _fmt_s(x: float) -> str:
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def summary_lines(r) -> list[str]:
    v, sc = r.verdict, r.scenario
    n = sc.connections.count
    lines = []
    if r.by_traffic_only and not r.pairs:
        return _traffic_only_lines(r)
    if v is None:
        lines.append(f"ERROR  no verdict  ({sc.name})" + (f": {r.error}" if r.error else ""))
        lines.extend(_traffic_lines(r))
        lines.extend(f"  warning: {w}" for w in r.warnings)
        return lines
    head = f"{v.established_assured}/{n} {'ESTABLISHED+ASSURED' if sc.expect.assured else 'ESTABLISHED'}"
    if r.carry is not None and r.carry.verdict is not None:
        head += f", {r.carry.verdict.both}/{n} carried both ways"
    word = r.outcome
    lines.append(f"{OUTCOME_WORDS[word]}  {head}  ({sc.name})"
                 + ("  the traffic, not the DUT" if word == "inconclusive" else ""))
    d = r.decision
    if d is not None and word != "pass":
        if d.in_order is not None and word in ("fail", "inconclusive") and not r.ports_short and not v.passed:
            lines.append(f"  outcome: {d.in_order} connection(s) delivered in order, the DUT failed "
                         f"{d.failed_in_order} of them; {d.dut_failed} failure(s) are the DUT's, "
                         f"{d.traffic_failed} the traffic's"
                         + (f"; {d.late} may have been sent past the DUT's timeouts" if d.late else ""))
        lines.extend(f"  outcome: {reason}" for reason in d.reasons)
    states = ", ".join(f"{k} {c}" for k, c in v.states.items()) or "none"
    lines.append(f"  states of the expected connections' entries: {states}")
    missing = v.counts.get("missing", 0)
    if missing:
        lines.append(f"  no entry: {missing}")
    if v.unexpected:
        lines.append(f"  unexpected entries in the test's address space: {v.unexpected}")
    if v.reply_dsts:
        dsts = ", ".join(f"{ip} ({n})" for ip, n in sorted(v.reply_dsts.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"  NAT: reply tuples go to {dsts}; e.g. {v.reply_samples[0]}")
    lines.extend(_traffic_lines(r))
    d = r.counter_deltas
    interesting = {k: x for k, x in d.items() if x and k in ("invalid", "drop", "early_drop", "insert_failed", "chaintoolong",
                                                               "error")}
    if interesting:
        lines.append("  DUT counters during the run: " + ", ".join(f"{k} +{x}" for k, x in interesting.items()))
    lines.extend(_carry_lines(r))
    lines.extend(_hold_lines(r))
    lines.extend(_teardown_lines(r))
    if r.health_after and r.health_after.max:
        lines.append(f"  DUT table: {r.health_after.count}/{r.health_after.max} entries at the verdict; the test's "
                     f"entries: {r.entries_after or 'as they were'}"
                     + (f"; DUT delete rate {r.delete_rate.text()} (conntrack -D)" if r.delete_rate else ""))
    for w in r.warnings:
        lines.append(f"  warning: {w}")
    for dline in r.diagnosis:
        lines.append(f"  diagnosis: {dline}")
    return lines


def _traffic_only_lines(r) -> list[str]:
    """The summary of a run proven by the traffic alone (dut.kind none: no table read)."""
    sc, n, c = r.scenario, r.scenario.connections.count, r.carry
    word = r.outcome
    both = c.verdict.both if c is not None and c.verdict is not None else 0
    lines = [f"{OUTCOME_WORDS[word]}  {both}/{n} carried both ways, by traffic only  ({sc.name})"
             + (f": {r.error}" if r.error else "") + ("  the traffic, not the DUT" if word == "inconclusive" else "")]
    d = r.decision
    if d is not None and word not in ("pass", "error"):
        lines.extend(f"  outcome: {reason}" for reason in d.reasons)
    lines.extend(_traffic_lines(r))
    lines.extend(_carry_lines(r))
    lines.extend(f"  warning: {w}" for w in r.warnings)
    lines.extend(f"  diagnosis: {x}" for x in r.diagnosis)
    return lines


def _carry_lines(r) -> list[str]:
    c = r.carry
    if c is None:
        return []
    if c.skipped:
        return [f"  traffic proof: not sent ({c.skipped})"]
    if c.verdict is None:
        return ["  traffic proof: not judged (the phase stopped: see the error)"]
    v, t = c.verdict, c.traffic.timings
    lines = [f"  traffic proof: {v.both}/{v.expected} carried both ways (towards the server {v.a_to_b}, towards the "
             f"client {v.b_to_a}; one data segment of {DATA_BYTES} bytes each way, judged from Drone's "
             f"captures on both ports); segments sent: port A {v.sent_a}, port B {v.sent_b}; build "
             f"{_fmt_s(t.get('build', 0.0))}, send {_fmt_s(t.get('send', 0.0))}, read {_fmt_s(c.read_seconds)}"]
    if c.lossy:
        lines.append(f"  traffic proof: the captures are incomplete: {c.lossy}")
    if v.mistranslated:
        lines.append("  traffic proof: segments changed by the DUT: "
                     + ", ".join(f"{f} {n}" for f, n in sorted(v.mistranslated.items(), key=lambda kv: -kv[1])))
    return lines


def _hold_lines(r) -> list[str]:
    h = r.hold
    if h is None:
        return []
    if h.skipped:
        return [f"  hold: not held ({h.skipped})"]
    how = (f"{h.keepalive_rounds} keep-alive round(s) of ACKs, {h.keepalive_packets} packets" if h.keepalive
           else "idle") + f"; longest idle {h.longest_idle:.1f} s"
    word = "still" if h.passed else "only"
    return [f"  hold: {word} {h.verdict.established_assured}/{h.verdict.expected} ESTABLISHED+ASSURED after "
            f"{h.held:.1f} s ({how})"]


def _teardown_lines(r) -> list[str]:
    td = r.teardown
    if td is None:
        return []
    if td.skipped:
        return [f"  teardown {td.mode}: not sent ({td.skipped})"]
    v = td.verdict
    states = ", ".join(f"{k} {n}" for k, n in v.states.items()) or "none"
    lines = [f"  teardown {td.mode}: {td.closed}/{v.expected} closed (in {'/'.join(td.end_states)} or gone; "
             f"states: {states}; gone: {v.counts['missing']})"]
    offered, retire = td.offered_rate, td.retire_rate
    first = "RST" if td.mode == "rst" else "FIN"
    parts = []
    if offered is not None and offered.seconds > 0:
        parts.append(f"offered tear-down rate {offered.text()} ({first}s)")
    parts.append(f"DUT retire rate {retire.text()} (entries leaving ESTABLISHED)" if retire is not None else
                 "DUT retire rate: not measured (" + (td.poll_error or "the polls saw no entry leave") + ")")
    lines.append("  " + "; ".join(parts))
    return lines


def _endpoint_spread(r) -> str:
    if r.verdict is None:
        return ""
    rows = per_endpoint(r.verdict, r.plan.space)
    got = [x["established_assured"] for x in rows]
    return f"; ESTABLISHED+ASSURED per endpoint {min(got)}-{max(got)} (of {min(x['expected'] for x in rows)}-" \
           f"{max(x['expected'] for x in rows)} expected)"


def _traffic_lines(r) -> list[str]:
    """Timings, plan, what each port sent and the measured rates: reported even when the DUT
    could not be read."""
    t = r.timings
    parts = [f"{k} {_fmt_s(t[k])}" for k in ("plan", "configure", "build", "send", "capture", "verify", "total")
             if k in t]
    lines = ["  timings: " + ", ".join(parts)
             + (f"; the tool's own {_fmt_s(t['overhead'])}" if "overhead" in t else "")
             + (f"; tool peak memory {r.peak_memory_mb:,.0f} MB" if r.peak_memory_mb else "")]
    plan = r.plan
    if plan is not None:
        lines.append(f"  plan: {plan.mode}, {len(plan.timings)} batch(es), rate "
                     + (f"{plan.rate:,.0f}/s" if plan.rate >= 100 else f"{plan.rate:g}/s")
                     + (f", delay {plan.delay:.3f} s" if plan.delay is not None else ""))
        if plan.ceiling is not None:
            lines.append(f"  Drone's send ceiling (both ports flat out): {plan.ceiling.text()}"
                         + (f"; {plan.rate_why}" if plan.rate_why.startswith(("lowered", "traffic.rate max")) else ""))
        changed = [b for b in r.batches if b.why]
        for b in changed[:3]:
            lines.append(f"  batch {b.index + 1}: {b.why}")
        if plan.space.endpoint_count > 1:
            lines.append(f"  servers: {plan.space.servers.describe()}" + _endpoint_spread(r))
    for side, p in r.ports.items():
        word = "ARP/NDP" if r.pairs else ("NDP" if r.scenario.connections.family == 6 else "ARP")
        extra = [f"{p.other_frames} {word} frame(s) apart"] if p.other_frames else []
        if not p.frames_exact:
            extra.append("estimate: frames of other sizes were sent too")
        elif p.counted_by == "capture":
            extra.append("counted by Drone's capture: other frames of other sizes were sent too")
        lines.append(f"  port {side.upper()} {p.name}: sent {p.sent_packets}/{p.expected_packets} packets"
                     + (f", {p.packet_rate.text()}" if p.send_seconds > 0 else "")
                     + (f" ({'; '.join(extra)})" if extra else "") + ("  LAGGED" if p.lagged else "")
                     + ("  SHORT" if p.shortfall else ""))
    for i, pr in enumerate(r.pairs):
        v = pr.verdict
        word = "ERROR" if pr.error else ("PASS" if pr.passed else "FAIL")
        lines.append(f"  pair {i + 1} ({pr.scenario.connections.client_ip} -> {pr.scenario.connections.server_ip}): "
                     f"{word} {v.established_assured if v else 0}/{pr.scenario.connections.count}"
                     + (f", carried both ways {pr.carry.verdict.both}" if pr.carry and pr.carry.verdict else "")
                     + ", build "
                     f"{_fmt_s(pr.timings.get('build', 0.0))}, send {_fmt_s(pr.timings.get('send', 0.0))}"
                     + (f", offered connection rate {pr.offered_connection_rate.text()}, end-to-end "
                        f"{pr.end_to_end_rate.text()}" if pr.syn_phase.seconds > 0 else "")
                     + (f": {pr.error}" if pr.error else ""))
    if r.aggregate_rate is not None:
        lines.append(f"  aggregate connection rate {r.aggregate_rate.text()} ({r.aggregate_rate.count} connections "
                     f"over {len(r.pairs)} pairs, first SYN of any pair to last ACK of any pair)")
    if r.syn_phase.seconds > 0:
        lines.append(f"  offered connection rate {r.offered_connection_rate.text()} (SYN phase); end-to-end "
                     f"{r.end_to_end_rate.text()} (first SYN to last ACK)")
    order = worst_order(r.sent_order)
    if order and plan is not None and plan.delay is not None:
        window = plan.space.batch_size / plan.rate
        late = order["synack_before_syn"] + order["ack_before_synack"]
        lines.append(f"  order as sent (Drone's captures): SYN -> SYN-ACK at least {order['min_syn_to_synack']:.3f} s "
                     f"(planned {plan.delay:.3f}), SYN-ACK -> ACK at least {order['min_synack_to_ack']:.3f} s "
                     f"(planned {window - plan.delay:.3f})"
                     + (f"; {late} connection(s) sent out of order" if late else "")
                     + ("" if order["same_clock"] else " (two Drone hosts: their clocks' offset is in these)"))
    if r.freshness:
        lines.append(f"  fresh: {r.freshness['proof']}")
        if r.by_traffic_only:
            lines.append(f"  proof by traffic only: the DUT's table is not read ({r.freshness.get('driver_chosen')})")
        elif r.freshness.get("driver"):
            lines.append(f"  proof by the DUT's table, read by the {r.freshness['driver']} driver "
                         f"({r.freshness.get('driver_chosen')})"
                         + (", and by the traffic through it (expect.proof)" if r.carry is not None else ""))
    return lines
