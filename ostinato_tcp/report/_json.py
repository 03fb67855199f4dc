"""The run result as plain data (``--report-json``, history, sweeps)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ostinato_tcp.ground.version import __version__
from ostinato_tcp.report.contract import stamp
from ostinato_tcp.domain.verdict import per_endpoint
from ostinato_tcp.ground.measure import worst_order


RATE_DEFINITIONS = {
    "offered_connection_rate": "SYNs sent / time the SYN phase took (pipelined: the SYN share of port A's "
                               "transmit, whose SYNs and ACKs go at one pace)",
    "end_to_end_connection_rate": "connections / time from the first SYN to the last ACK (summed over batches; "
                                  "builds between batches excluded)",
    "packet_rate": "TCP packets a port sent / the time it transmitted (ARP of the emulated devices excluded)",
    "bound_pct": "the rate lies within +-bound_pct of per_second (from the measured start and end windows)",
}


def _port(p) -> dict:
    return {"name": p.name, "drone": p.drone, "expected_packets": p.expected_packets,
            "sent_packets": p.sent_packets, "other_frames": p.other_frames, "frames_exact": p.frames_exact,
            "counted_by": p.counted_by, "captured_packets": p.captured_packets,
            "send_seconds": round(p.send_seconds, 6), "send_seconds_bound": round(p.transmit.bound, 6),
            "planned_seconds": round(p.planned_seconds, 4), "packet_rate": p.packet_rate.to_dict(),
            "lagged": p.lagged}


def result_to_dict(r) -> dict:
    v, plan = r.verdict, r.plan
    hb, ha = r.health_before, r.health_after
    out = {
        "tool": {"name": "ostinato-tcp", "version": __version__,
                 "peak_memory_mb": round(r.peak_memory_mb, 1) if r.peak_memory_mb else None},
        "scenario_name": r.scenario.name,
        "scenario_file": r.scenario.source,
        "scenario_hash": r.scenario.content_hash,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.started_at)),
        "verdict": r.outcome,
        "outcome": (r.decision or r.decide()).to_dict(),
        "error": r.error,
        "error_type": type(r.exception).__name__ if r.exception is not None else None,
        "expected": r.scenario.connections.count,
        "established_assured": v.established_assured if v else (None if r.by_traffic_only else 0),
        "categories": v.counts if v else {},
        "states": v.states if v else {},
        "unexpected_entries": v.unexpected if v else 0,
        "unknown_dump_lines": v.parse.unknown if v else 0,
        "servers": per_endpoint(v, plan.space) if v and plan is not None else [],
        "nat_reply_destinations": v.reply_dsts if v else {},
        "nat_reply_samples": v.reply_samples if v else [],
        "freshness": dict(r.freshness, started_at=None) if r.freshness else {},
        "entries_after_the_run": {"removed": r.entries_removed, "note": r.entries_after,
                                  "dut_delete_rate": r.delete_rate.to_dict() if r.delete_rate else None},
        "ports_short": r.ports_short,
        "drone_build": r.build_checks,
        "gateway_changes": list(r.gateway_changes),
        "rates": {"timed_by": "Drone's capture of the port" if r.timed_by_capture else "Drone's transmit state",
                  "offered_connection_rate": r.offered_connection_rate.to_dict(),
                  "end_to_end_connection_rate": r.end_to_end_rate.to_dict(),
                  "aggregate_connection_rate": r.aggregate_rate.to_dict() if r.aggregate_rate else None,
                  "definitions": RATE_DEFINITIONS},
        "timings": {k: round(x, 4) for k, x in r.timings.items()},
        "pairs": [pair_figures(i, p) for i, p in enumerate(r.pairs or [r])],  # one entry per port pair
        "diagnosis": list(r.diagnosis),
        "warnings": list(r.warnings),
        "plan": None if plan is None else {
            "mode": plan.mode, "rate": plan.rate, "delay": plan.delay, "batches": len(plan.timings),
            "batch_size": plan.space.batch_size, "client_ips": plan.space.ip_count,
            "server_endpoints": plan.space.endpoint_count, "streams_per_leg": plan.streams_per_leg,
            "expected_seconds": round(plan.expected_seconds, 3), "forced": plan.forced,
            "problems": list(plan.problems), "mode_why": plan.mode_why, "min_margin": plan.min_margin,
            "margin_why": plan.margin_why, "rate_why": plan.rate_why,
            "ceiling": plan.ceiling.to_dict() if plan.ceiling is not None else None,
            "dut_timeouts": {"syn_sent": plan.dut.syn_sent_timeout, "syn_recv": plan.dut.syn_recv_timeout,
                             "source": plan.dut.source},
            "dut_table": {"conntrack_max": plan.dut.conntrack_max, "conntrack_count": plan.dut.conntrack_count,
                          "own_entries": plan.dut.own_entries, "free_after_clear": plan.dut.free_entries,
                          "buckets": plan.dut.buckets, "hash_load_at_end": plan.hash_load,
                          **(plan.chains.to_dict() if plan.chains else
                             {"mean_chain_at_end": None, "expected_chain_refusals": None, "buckets_needed": None})}},
        "ports": {side: _port(p) for side, p in r.ports.items()},
        "delays": [round(d, 4) for d in r.delays],
        "batches_sent": [b.to_dict() for b in r.batches],
        "order_as_sent": worst_order(r.sent_order),
        "order_as_sent_batches": [o.to_dict() for o in r.sent_order],
        "drone_versions": dict(r.drone_versions),
        "drone_versions_source": "MAJOR.MINOR that Drone accepted in checkVersion (Drone reports no patch level)",
        "dut": {"driver": r.freshness.get("driver"), "driver_chosen": r.freshness.get("driver_chosen"),
                "kernel": (ha or hb).kernel if (ha or hb) else None,
                # a DUT not read (dut.kind none) has no health to report
                "before": hb.to_dict() if hb and not r.by_traffic_only else None,
                "after": ha.to_dict() if ha and not r.by_traffic_only else None,
                "counter_deltas": r.counter_deltas, "peak_count_polled": r.peak_count},
        "dump": dict(r.dump),
        "hold": r.hold.to_dict() if r.hold is not None else None,
        "teardown": r.teardown.to_dict() if r.teardown is not None else None,
        "proof": proofs(r),
        "traffic_proof": r.carry.to_dict() if r.carry is not None else None,
        "scenario": r.scenario.resolved(),
    }
    out["freshness"].pop("started_at", None)
    return stamp("run", out)


def proofs(r) -> dict:
    """Which proofs the run asked for and whether each held (None: not asked, or not reached)."""
    asked = list(r.scenario.expect.proof)
    runs = r.pairs or [r]  # over several port pairs: every pair's proofs
    tables = [p.verdict.passed for p in runs if p.verdict is not None]
    carried = [p.carry.passed for p in runs if p.carry is not None and not p.carry.skipped]
    return {"asked": asked, "table": all(tables) if len(tables) == len(runs) else None,
            "traffic": all(carried) if carried and len(carried) == len(runs) else None}


def pair_figures(i: int, r) -> dict:
    """One port pair's figures in a run over several pairs."""
    v = r.verdict
    return {"pair": i + 1, "scenario_name": r.scenario.name, "verdict": r.outcome, "error": r.error,
            "expected": r.scenario.connections.count,
            "established_assured": v.established_assured if v else (None if r.by_traffic_only else 0),
            "carried_both_ways": r.carry.verdict.both if r.carry is not None and r.carry.verdict else None,
            "client_ip": str(r.scenario.connections.client_ip), "server_ip": str(r.scenario.connections.server_ip),
            "ports": {side: _port(p) for side, p in r.ports.items()},
            "build_seconds": round(r.timings.get("build", 0.0), 4), "send_seconds": round(r.timings.get("send", 0.0), 4),
            "offered_connection_rate": r.offered_connection_rate.to_dict(),
            "end_to_end_connection_rate": r.end_to_end_rate.to_dict(),
            "plan": None if r.plan is None else {"mode": r.plan.mode, "batches": len(r.plan.timings),
                                                 "delay": r.plan.delay}}


def write_json(data: dict, path: str | os.PathLike) -> None:
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(p)
