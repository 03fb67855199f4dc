"""Diagnosis: what failed and why, from the verdict's categories, the DUT's counters, the
plan (which batch, when) and Drone's captures (in which order the packets left)."""

from __future__ import annotations

import re

from ostinato_tcp.ground.addr import host_port
from ostinato_tcp.domain.verdict import CATEGORY_NAMES, Expected, Verdict


def failed_blocks(v: Verdict, category: str, limit: int = 3) -> list[tuple[int, int]]:
    """The largest runs of consecutive connections in ``category``: (first, last), largest first."""
    code = {name: k for k, name in CATEGORY_NAMES.items()}[category]
    spans = [(m.start(), m.end() - 1) for m in re.finditer(re.escape(bytes([code])) + b"+", v.codes)]
    spans.sort(key=lambda s: s[0] - s[1])
    return spans[:limit]


def _where(plan, first: int, last: int) -> str:
    """Connections first..last, with their batch and when in it their SYNs were planned."""
    n = last - first + 1
    text = f"#{first}-#{last} ({n})" if n > 1 else f"#{first}"
    if plan is None:
        return text
    m, r = plan.space.batch_size, plan.rate
    b0, b1 = first // m, last // m
    if b0 != b1:
        return f"{text}, batches {b0 + 1}-{b1 + 1} of {len(plan.timings)}"
    k0, k1 = first - b0 * m, last - b0 * m
    return f"{text}, batch {b0 + 1} of {len(plan.timings)}, SYNs planned {k0 / r:.3f}-{k1 / r:.3f} s into it"


def _as_sent(orders, plan, which: str) -> str:
    """What Drone's captures say of the order the packets left in (pipelined batches)."""
    if not orders or plan is None or plan.delay is None:
        return ""
    timed = [o for o in orders if o.timed]
    if not timed:
        return ""
    offsets = [o for o in timed if getattr(o, "clock_offset", None) is not None and o.same_clock]
    clock = ("" if all(o.same_clock for o in timed) and not offsets else
             f" (two Drone hosts: B's clock {offsets[0].clock_offset * 1000:+.3f} ms ±{offsets[0].clock_bound * 1000:.3f} "
             "against A's, measured from the captures and taken out)" if offsets else
             " (two Drone hosts: their clocks' offset is in these figures)")
    m = plan.space.batch_size
    if which == "synack_first":
        blocks = [(o.batch * m + a, o.batch * m + b, w) for o in timed for a, b, w in o.synack_first]
        low = min(o.min_syn_to_synack for o in timed)
        planned, lead, behind = plan.delay, "SYN-ACKs", "port A fell behind port B"
        follow = "SYNs"
    else:
        blocks = [(o.batch * m + a, o.batch * m + b, w) for o in timed for a, b, w in o.ack_first]
        low = min(o.min_synack_to_ack for o in timed)
        planned, lead, behind = m / plan.rate - plan.delay, "ACKs", "port B fell behind port A"
        follow = "SYN-ACKs"
    if not blocks:
        return (f" As sent, the order held (Drone's captures: the smallest margin was {low:.3f} s of the planned "
                f"{planned:.3f} s), so the packets were reordered after they left Drone: on the links or in the "
                f"DUT{clock}.")
    blocks.sort(key=lambda b: b[0] - b[1])
    first, last, worst = blocks[0]
    total = sum(b - a + 1 for a, b, _ in blocks)
    return (f" As sent (Drone's captures), the {lead} of {total} connection(s) left before their {follow}, "
            f"e.g. #{first}-#{last} by up to {-worst:.3f} s: {behind} by up to {planned - low:.3f} s against a "
            f"planned margin of {planned:.3f} s{clock}.")


def diagnose(v: Verdict, exp: Expected, *, counter_deltas: dict[str, int] | None = None,
             tcp_loose: int | None = None, notes: list[str] | None = None, plan=None,
             sent_order: list | None = None) -> list[str]:
    """Lines that say what failed and why, most likely cause first. ``plan`` places failed
    connections in their batch and send time; ``sent_order`` (measure.SentOrder per batch)
    says in which order Drone sent them."""
    d = counter_deltas or {}
    c = v.counts
    out: list[str] = list(notes or [])

    def blocks(cat: str) -> str:
        found = failed_blocks(v, cat)
        if not found:
            return ""
        more = c[cat] - sum(b - a + 1 for a, b in found)
        return (" Where: " + "; ".join(_where(plan, a, b) for a, b in found)
                + (f"; and {more} more elsewhere" if more > 0 else "") + ".")

    def example(cat: str) -> str:
        ids = v.connections_in(cat, 3)
        if not ids:
            return ""
        shown = ", ".join(host_port(o[0], o[2]) for o in (exp.original_of(i) for i in ids))
        return f" (e.g. {shown})"

    if c["missing"]:
        extra = [f"{k} +{d[k]}" for k in ("early_drop", "drop", "insert_failed") if d.get(k)]
        chains = d.get("chaintoolong", 0)
        if chains:
            # the kernel's own count of the inserts it refused for a too long hash chain
            share = min(chains, c["missing"])
            cause = (f"the kernel refused {chains} insert(s) because their hash chain was too long (chaintoolong "
                     f"+{chains}), which explains {share} of them"
                     + (f"; besides: {', '.join(extra)}" if extra else "")
                     + ". Fix: raise net.netfilter.nf_conntrack_buckets (the plan names the count)")
        elif extra:
            cause = "the table was full or entries were evicted (" + ", ".join(extra) + ")"
        else:
            cause = ("their SYN never reached the DUT (port A, its ARP/route to the DUT) or the entries were cleared "
                     "or timed out before the dump")
        out.append(f"{c['missing']} connection(s) have no conntrack entry{example('missing')}: {cause}."
                   f"{blocks('missing')}")
    if c["syn_sent_unreplied"]:
        hint = ""
        if exp.nat_mode != "none":
            seen = {ip: n for ip, n in v.reply_dsts.items() if ip != exp.nat_address}
            if exp.nat_mode == "preserve-ports" and seen:
                ip, n = max(seen.items(), key=lambda kv: kv[1])
                hint += (f" The DUT translates the clients to {ip} ({n} entries), not to nat.address "
                         f"{exp.nat_address}: set nat.address: {ip}")
        n_ss, inv, n_sr = c["syn_sent_unreplied"], d.get("invalid", 0), c["syn_recv"]
        as_sent = ""
        if exp.nat_mode != "none":
            cause = ("no SYN-ACK matched them: it never reached the DUT, or went to another address or port than "
                     "the one the NAT chose")
        elif "invalid" not in d:
            cause = ("the SYN-ACK never reached the DUT, or came before its SYN (the DUT's invalid counter was not "
                     "read, so the two cannot be told apart)")
        else:
            # The DUT-wide invalid counter: an ACK that finds its entry still in SYN_SENT counts one, a
            # SYN-ACK that comes before its SYN counts one more. SYN_RECV entries had their ACK early: one each.
            rest = max(0, inv - n_sr)
            if rest == 0:
                cause = ("neither the SYN-ACK nor the ACK reached the DUT (the invalid counter did not move): "
                         "port B's stream, its ARP for the DUT's B-side gateway, or the route back; and port A's "
                         "ACK stream")
            elif rest <= 1.2 * n_ss:
                cause = (f"the SYN-ACK never reached the DUT: the invalid counter rose by {inv}, about one per "
                         "connection, each an ACK that found its entry still in SYN_SENT; look at port B's stream, "
                         "its ARP for the DUT's B-side gateway, or the route back")
            elif rest >= 1.8 * n_ss:
                cause = (f"their SYN-ACKs reached the DUT before their SYNs: the DUT's invalid counter rose by {inv}, "
                         "two per connection (the early SYN-ACK, then the ACK of an entry still in SYN_SENT)")
                as_sent = _as_sent(sent_order, plan, "synack_first")
            else:
                early = min(n_ss, rest - n_ss)
                cause = (f"the evidence is mixed: the invalid counter rose by {inv} for {n_ss} connection(s) in "
                         "SYN_SENT" + (f" and {n_sr} in SYN_RECV" if n_sr else "")
                         + ". Each ACK that found its entry in SYN_SENT counts one, each SYN-ACK that came before "
                         f"its SYN one more: about {early} had their SYN-ACK early, about {n_ss - early} never "
                         "got one")
                as_sent = _as_sent(sent_order, plan, "synack_first")
        out.append(f"{n_ss} in SYN_SENT [UNREPLIED]{example('syn_sent_unreplied')}: {cause}.{as_sent}"
                   f"{blocks('syn_sent_unreplied')}{hint}")
    if c["syn_recv"]:
        inv = d.get("invalid", 0)
        if inv >= c["syn_recv"] * 0.5:
            out.append(f"{c['syn_recv']} in SYN_RECV{example('syn_recv')}: the DUT's invalid counter rose by {inv}, "
                       "so the ACKs reached the DUT before the SYN-ACKs and were dropped as invalid (the SYN-ACKs "
                       "came too late: delay too long, or port B lagged)."
                       f"{_as_sent(sent_order, plan, 'ack_first')}{blocks('syn_recv')}")
        else:
            out.append(f"{c['syn_recv']} in SYN_RECV{example('syn_recv')}: the ACK never arrived (invalid +{inv}, "
                       "so not dropped as out of order): port A's ACK stream did not reach the DUT, or the entries "
                       f"waited longer than the SYN_RECV timeout.{blocks('syn_recv')}")
    if c["established_not_assured"]:
        loose = f"nf_conntrack_tcp_loose={tcp_loose}" if tcp_loose is not None else "nf_conntrack_tcp_loose"
        out.append(f"{c['established_not_assured']} ESTABLISHED without [ASSURED]{example('established_not_assured')}"
                   f": picked up mid-stream ({loose}: a lone ACK creates such an entry) or no reply was seen")
    if c["other_state"]:
        states = ", ".join(f"{k} {n}" for k, n in sorted(v.other_states.items()))
        out.append(f"{c['other_state']} in other states ({states}){example('other_state')}: closed or reset "
                   "connections, or leftovers of an earlier run")
    if c["reply_mismatch"]:
        sample = "; ".join(v.mismatch_samples[:2])
        out.append(f"{c['reply_mismatch']} entries have another reply tuple than expected ({sample})"
                   + (": the DUT translated to another address/port than nat.address" if exp.nat_mode != "none"
                      else ""))
    if v.unexpected:
        out.append(f"{v.unexpected} unexpected entr{'y' if v.unexpected == 1 else 'ies'} inside the test's address "
                   f"space (e.g. {v.unexpected_samples[0]}): leftovers of an earlier run, or traffic from "
                   "someone else to the test server")
    if c.get("older_than_the_run"):
        out.append(f"{c['older_than_the_run']} entr{'y is' if c['older_than_the_run'] == 1 else 'ies are'} older "
                   f"than this run (conntrack's delta-time above {v.max_age} s){example('older_than_the_run')}: "
                   "left by an earlier run, so they prove nothing about this one")
    if v.duplicates:
        out.append(f"{v.duplicates} expected connection(s) appear more than once (conntrack zones?)")
    if v.parse.unknown:
        out.append(f"{v.parse.unknown} dump line(s) were not understood and were skipped, e.g. "
                   f"{v.parse.samples[0]!r}")
    return out
