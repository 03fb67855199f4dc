#!/usr/bin/env python3
"""Write the JSON Schemas of ostinato-tcp's outputs (ostinato_tcp/report/schemas/).

The schemas are the outputs' contract (ostinato_tcp/report/contract.py); they are
written from the declarations below so that shared parts (a rate, a port, the DUT's
health) are defined once. ``make test`` checks that the shipped files are what this
script writes and that every command's real output validates against its schema.

    python scripts/write_schemas.py          # rewrite the files
    python scripts/write_schemas.py --check  # exit 1 when a file differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ostinato_tcp.report.contract import KINDS, SCHEMA_DIR, SCHEMA_VERSION  # noqa: E402

S, N, I, B = {"type": "string"}, {"type": "number"}, {"type": "integer"}, {"type": "boolean"}
ANY: dict = {}
OBJ = {"type": "object"}


def null(x: dict) -> dict:
    return {"anyOf": [x, {"type": "null"}]}


def arr(x: dict, min_items: int = 0) -> dict:
    return {"type": "array", "items": x, **({"minItems": min_items} if min_items else {})}


def dict_of(x: dict) -> dict:
    return {"type": "object", "additionalProperties": x}


def enum(*values) -> dict:
    return {"enum": list(values)}


def obj(props: dict, *, optional: tuple = (), closed: bool = True) -> dict:
    """An object with these properties, every one required but ``optional``; ``closed``: no others."""
    out = {"type": "object", "properties": props, "required": [k for k in props if k not in optional]}
    if closed:
        out["additionalProperties"] = False
    return out


def ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


VERDICT = enum("pass", "fail", "inconclusive", "error")
CHAINS = {"mean_chain_at_end": null(N), "expected_chain_refusals": null(N), "buckets_needed": null(I)}

DEFS = {
    "rate": obj({"per_second": N, "bound_pct": null(N), "count": I, "seconds": N, "bound_seconds": N,
                 "estimated": B}),
    "port": obj({"name": S, "drone": S, "expected_packets": I, "sent_packets": I, "other_frames": I,
                 "frames_exact": B, "counted_by": enum("counters", "capture"), "captured_packets": null(I),
                 "send_seconds": N, "send_seconds_bound": N, "planned_seconds": N, "packet_rate": ref("rate"),
                 "lagged": B}),
    "counters": dict_of(I),
    "health": obj({"count": I, "max": I, "buckets": null(I), "tcp_loose": null(I), "syn_sent_timeout": null(I),
                   "syn_recv_timeout": null(I), "established_timeout": null(I), "timestamp": null(I),
                   "ip_forward": null(I), "ip6_forward": null(I), "kernel": null(S), "uid": null(I),
                   "has_conntrack": null(B), "tcp_be_liberal": null(I), "tcp_max_retrans": null(I),
                   "tcp_ignore_invalid_rst": null(I), "counters": ref("counters"), "taken_at": N, "free": I},
                  optional=("tcp_be_liberal", "tcp_max_retrans", "tcp_ignore_invalid_rst"), closed=False),
    "ceiling": obj({"ports": dict_of(ref("rate")), "packets_per_second": N, "usable_packets_per_second": N,
                    "remembered_at": null(S),
                    "usable_share": N, "probe_seconds": N, "definition": S}),
    "categories": dict_of(I),
    "states": dict_of(I),
}


def top(kind: str, props: dict, *, optional: tuple = (), closed: bool = True, defs: bool = True) -> dict:
    body = obj({"schema": {"const": kind}, "schema_version": {"const": SCHEMA_VERSION}, **props},
               optional=optional, closed=closed)
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": f"https://ostinato-tcp.invalid/schemas/{kind}/v{SCHEMA_VERSION}.json",
           "title": f"ostinato-tcp {kind} output, schema version {SCHEMA_VERSION}",
           "description": KINDS[kind], **body}
    if defs:
        out["$defs"] = DEFS
    return out


RUN_PLAN = obj({
    "mode": enum("pipelined", "phased"), "rate": N, "delay": null(N), "batches": I, "batch_size": I,
    "client_ips": I, "server_endpoints": I, "streams_per_leg": I, "expected_seconds": N, "forced": B,
    "problems": arr(S), "mode_why": S, "min_margin": N, "margin_why": S, "rate_why": S,
    "ceiling": null(ref("ceiling")),
    "dut_timeouts": obj({"syn_sent": null(I), "syn_recv": null(I), "source": S}),
    "dut_table": obj({"conntrack_max": null(I), "conntrack_count": null(I), "own_entries": null(I),
                      "free_after_clear": null(I), "buckets": null(I), "hash_load_at_end": null(N), **CHAINS}),
})

RUN_PAIR = obj({
    "pair": I, "scenario_name": S, "verdict": VERDICT, "error": null(S), "expected": I,
    "established_assured": null(I), "carried_both_ways": null(I), "client_ip": S, "server_ip": S, "ports": dict_of(ref("port")), "build_seconds": N, "send_seconds": N,
    "offered_connection_rate": ref("rate"), "end_to_end_connection_rate": ref("rate"),
    "plan": null(obj({"mode": S, "batches": I, "delay": null(N)})),
})

RUN = top("run", {
    "tool": obj({"name": {"const": "ostinato-tcp"}, "version": S, "peak_memory_mb": null(N)}),
    "scenario_name": S, "scenario_file": null(S), "scenario_hash": null(S), "started_at": S,
    "verdict": VERDICT,
    "outcome": obj({"outcome": VERDICT, "delivered_in_order": null(I), "failed_in_order": null(I),
                    "failed_by_the_traffic": null(I), "failed_by_the_dut": null(I),
                    "sent_past_dut_timeouts": I, "reasons": arr(S), "rule": S}),
    "error": null(S), "error_type": null(S), "expected": I,
    "established_assured": null(I),  # null: no table read (dut.kind none, the traffic proof alone)
    "categories": ref("categories"), "states": ref("states"), "unexpected_entries": I, "unknown_dump_lines": I,
    "servers": arr(obj({"server": S, "expected": I, "established_assured": I})),
    "nat_reply_destinations": dict_of(I), "nat_reply_samples": arr(ANY),
    "freshness": OBJ,
    "entries_after_the_run": obj({"removed": null(I), "note": null(S), "dut_delete_rate": null(ref("rate"))}),
    "ports_short": arr(S),
    "drone_build": arr(obj({"drone": S, "form": enum("fast", "resolve"), "build_seconds_per_packet": null(N),
                            "frames_checked": I, "bad_frames": I, "note": S, "checksums_remembered": B},
                           closed=False)),
    "gateway_changes": arr(S),
    "rates": obj({"timed_by": S, "offered_connection_rate": ref("rate"), "end_to_end_connection_rate": ref("rate"),
                  "aggregate_connection_rate": null(ref("rate")), "definitions": dict_of(S)}),
    "timings": dict_of(N),
    "pairs": arr(RUN_PAIR, min_items=1),
    "diagnosis": arr(S), "warnings": arr(S),
    "plan": null(RUN_PLAN),
    "ports": dict_of(ref("port")),
    "delays": arr(N),
    "batches_sent": arr(obj({"batch": I, "first": I, "count": I, "mode": S, "delay": null(N), "why": S,
                             "margin": null(N), "suspect": B, "order_known_by": S, "ports": dict_of(OBJ)})),
    "order_as_sent": null(OBJ), "order_as_sent_batches": arr(OBJ),
    "drone_versions": dict_of(S), "drone_versions_source": S,
    "dut": obj({"driver": null(S), "driver_chosen": null(S), "kernel": null(S), "before": null(ref("health")),
                "after": null(ref("health")), "counter_deltas": ref("counters"), "peak_count_polled": null(I)}),
    "dump": OBJ,
    "hold": null(obj({"requested_seconds": N, "keepalive_seconds": null(N), "held_seconds": N,
                      "keepalive_rounds": I, "keepalive_packets": I, "longest_idle_seconds": N,
                      "skipped": null(S), "passed": null(B),
                      "established_assured": null(I), "categories": null(ref("categories")),
                      "states": null(ref("states")), "established_timeout": null(I), "dump_seconds": null(N),
                      "diagnosis": arr(S)})),
    "teardown": null(obj({"mode": enum("rst", "fin"), "skipped": null(S), "passed": null(B),
                          "end_states": arr(S), "closed": null(I), "states": null(ref("states")),
                          "gone": null(I), "offered_teardown_rate": null(ref("rate")),
                          "dut_retire_rate": null(ref("rate")), "established_polls": I, "poll_error": null(S),
                          "ports": dict_of(obj({"sent_packets": I, "expected_packets": I, "lagged": B})),
                          "timings": dict_of(N), "counter_deltas": ref("counters"), "dump_seconds": null(N),
                          "diagnosis": arr(S)})),
    "proof": obj({"asked": arr(enum("table", "traffic"), min_items=1), "table": null(B), "traffic": null(B)}),
    "traffic_proof": null(obj({
        "skipped": null(S), "passed": null(B), "segment_bytes": I, "unsent": I, "captures_incomplete": null(S),
        "capture_bytes": dict_of(I),
        "read_seconds": N, "diagnosis": arr(S), "build_seconds": null(N), "send_seconds": null(N),
        "expected": I, "carried_both_ways": I, "a_to_b": I, "b_to_a": I, "a_to_b_only": I, "b_to_a_only": I,
        "neither": I, "sent_by_a": I, "sent_by_b": I, "changed": obj({"a_to_b": I, "b_to_a": I}),
        "mistranslated": dict_of(I), "samples": arr(S), "unknown_segments": I, "duplicates": I,
        "frames_read": dict_of(I)},
        optional=("expected", "carried_both_ways", "a_to_b", "b_to_a", "a_to_b_only", "b_to_a_only", "neither",
                  "sent_by_a", "sent_by_b", "changed", "mistranslated", "samples", "unknown_segments",
                  "duplicates", "frames_read"))),
    "scenario": OBJ,
}, optional=("point_name", "count", "rate", "delay", "search", "varied"), closed=False)

PLAN_PAIR = obj({
    "pair": I, "scenario_name": S, "mode": enum("pipelined", "phased"), "rate": N, "delay": null(N), "total": I,
    "batch_size": I, "batches": I, "client_ips": I, "ports_per_batch": I, "last_client_port": I,
    "server_endpoints": I, "streams_per_leg": I, "expected_seconds": N, "mode_why": S, "min_margin": N,
    "margin_why": S, "rate_why": S, "ceiling": null(ref("ceiling")),
    "dut": obj({"syn_sent_timeout": null(I), "syn_recv_timeout": null(I), "conntrack_max": null(I),
                "conntrack_count": null(I), "own_entries": null(I), "free_after_clear": null(I),
                "buckets": null(I), "hash_load_at_end": null(N), **CHAINS, "established_timeout": null(I),
                "source": S}),
    "hold": N, "keepalive": null(N),
    "timings": arr(obj({"batch": {"type": "integer", "minimum": 1}, "first": I, "count": I, "build_seconds": N,
                        "send_seconds": N, "syn_to_synack": N, "synack_to_ack": N})),
    "warnings": arr(S), "problems": arr(S),
}, closed=False)

PLAN = top("plan", {"scenario_name": S, "total": I, "pair_count": I, "expected_seconds": N, "problems": arr(S),
                    "warnings": arr(S), "pairs": arr(PLAN_PAIR, min_items=1)})

CHECK = top("check", {
    "scenario_name": S, "exit_code": I,
    "checks": arr(obj({"name": S, "status": enum("OK", "WARN", "FAIL", "SKIP"), "detail": S, "fix": S,
                       "exit_code": I})),
    "ceiling": null(OBJ),
})

VERIFY_PAIR = obj({
    "pair": I, "scenario_name": S, "source": S, "verdict": enum("pass", "fail"), "expected": I,
    "established_assured": I, "categories": ref("categories"), "states": ref("states"), "unexpected_entries": I,
    "unknown_dump_lines": I, "diagnosis": arr(S), "dut": null(ref("health")), "dump": null(OBJ),
})

VERIFY = top("verify", {"scenario_name": S, "verdict": enum("pass", "fail"), "expected": I,
                        "established_assured": I, "pairs": arr(VERIFY_PAIR, min_items=1)})

CAPACITY = top("capacity", {
    "scenario_name": S, "connection_tracking_table_capacity": I, "attempted": I, "conntrack_max": null(I),
    "entries_before": null(I), "free_before": null(I), "entries_at_the_verdict": null(I),
    "peak_count_polled": null(I), "counter_deltas": ref("counters"), "survivors": null(I),
    "evicted_assured": null(I), "recheck_after_seconds": N, "states": ref("states"), "entries_after_the_run": S,
    "error": null(S),
})

SWEEP = top("sweep", {
    "summary": obj({"sweep": null(S), "points": I, "grid_points": I, "grid_passed": I, "grid_failed": I,
                    "grid_inconclusive": I, "grid_refused": I, "grid_lagged": I, "errors": I,
                    "maximum_connection_establishment_rate": dict_of(OBJ), "maximum_rate_rule": S,
                    "connection_tracking_table_capacity": OBJ, "connection_teardown_rate": dict_of(OBJ),
                    "teardown_rate_rule": S}, closed=False),
    # each point is a run's result (the run schema) without its scenario, with the point's place in the grid
    "points": arr(obj({"point_name": S, "count": I, "rate": {"anyOf": [N, {"const": "max"}]}, "verdict": VERDICT,
                       "varied": dict_of(ANY)}, closed=False)),
    "results_dir": S,
}, optional=("points", "results_dir"))

HISTORY = top("history", {
    "runs": arr(obj({"id": I, "started_at": S, "scenario_name": S, "verdict": VERDICT, "expected": I,
                     "established_assured": null(I), "carried_both_ways": null(I), "rate": null(N),
                     "offered_connection_rate": null(N),
                     "offered_rate_bound_pct": null(N), "end_to_end_rate": null(N), "packet_rate_a": null(N),
                     "packet_rate_b": null(N), "dut_kernel": null(S), "drone_version": null(S), "origin": S},
                    closed=False)),
    "comparison": null(obj({"run": null(I), "baseline": null(I), "basis": null(S), "run_verdict": null(S),
                            "regressions": arr(ANY)}, closed=False)),
}, optional=("comparison",))

PORTS = top("ports", {
    "drone": S, "version": null(S),
    "ports": arr(obj({"id": I, "name": S, "description": S, "link": S, "user_name": S, "streams": I,
                      "device_groups": I, "transmitting": B, "mode": S})),
})

LAB_ENDPOINTS = obj({"prefix": S, "drone_a": OBJ, "drone_b": OBJ, "ssh": OBJ, "dut": OBJ, "namespaces": arr(S),
                     "pairs": arr(OBJ, min_items=1), "lab_file": null(S)})

LAB = top("lab", dict(LAB_ENDPOINTS["properties"]))

LAB_STATUS = top("lab-status", {"up": B, "namespaces": dict_of(B), "drone_listening": dict_of(B),
                                "sshd_listening": null(B), "state_file": S, "endpoints": null(LAB_ENDPOINTS)},
                 optional=("endpoints",))

OUTCOME = enum("no entry", "SYN_SENT", "SYN_RECV", "ESTABLISHED (not ASSURED)", "ESTABLISHED+ASSURED", "CLOSE")
CONFORMANCE_CASE = obj({"case": S, "title": S, "strict": OUTCOME, "expected": OUTCOME, "setting": null(S),
                        "connections": I, "as_expected": I, "outcomes": dict_of(I), "invalid_delta": null(I),
                        "verdict": enum("pass", "explained", "fail", "error"), "note": S, "seconds": N,
                        "steps": arr(obj({"role": S, "port": enum("a", "b"), "packets": I, "seconds": N,
                                          "forwarded": null(I)})),
                        "forwarded_note": S, "forwarding": arr(S)})
CONFORMANCE = top("conformance", {
    "scenario_name": S, "connections_per_case": I, "verdict": enum("pass", "fail", "error"), "strict": B,
    "dut_settings": dict_of(null(I)), "other_settings": dict_of(null(I)), "kernel": null(S),
    "cases": arr(CONFORMANCE_CASE), "seconds": N, "error": null(S)})

BENCH_STEP = obj({"asked_rate": N, "measured_rate": null(N), "passed": B, "why": S, "seconds": N,
                  "generator_limited": B, "retried": arr(S)})
SPREAD = obj({"trials": I, "trials_with_a_figure": I, "median": null(N), "minimum": null(N), "maximum": null(N),
              "percentile_1": null(N), "percentile_99": null(N), "percentiles_from": I})
BENCHMARK = top("benchmark", {
    "scenario_name": S, "figure": enum("establishment-rate"), "verdict": enum("pass", "fail", "error"),
    "connections_per_step": I, "trials_asked": I, "floor": N, "top": null(N), "resolution": N, "validation": B,
    "maximum_connection_establishment_rate": SPREAD, "trials_passed_at_the_top": I,
    "trials": arr(obj({"trial": I, "figure": null(N), "lower_bound": null(N), "upper_bound": null(N),
                       "generator_bound": null(N),
                       "outcome": enum("", "found", "limited by the generator", "passed at the top", "below the floor",
                                       "not narrowed"),
                       "floor": N, "resolution": N, "steps": arr(BENCH_STEP)})),
    "dut": obj({"kernel": null(S), "conntrack_max": null(I), "buckets": null(I), "timeouts": null(OBJ),
                "tcp_loose": null(I), "tcp_be_liberal": null(I)}, optional=("kernel", "conntrack_max", "buckets",
                                                                          "timeouts", "tcp_loose", "tcp_be_liberal")),
    "ceiling": null(ref("ceiling")), "seconds": N, "error": null(S), "definition": S})

CLEANUP = top("cleanup", {"scenario_name": S, "removed": arr(S)})

SCHEMAS = {"run": RUN, "plan": PLAN, "check": CHECK, "verify": VERIFY, "capacity": CAPACITY, "conformance": CONFORMANCE,
           "benchmark": BENCHMARK, "sweep": SWEEP,
           "history": HISTORY, "ports": PORTS, "lab": LAB, "lab-status": LAB_STATUS, "cleanup": CLEANUP}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    missing = set(KINDS) - set(SCHEMAS)
    if missing:
        print(f"no schema declared for: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    check = "--check" in argv
    differ = []
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for kind, schema in SCHEMAS.items():
        path = SCHEMA_DIR / f"{kind}.schema.json"
        text = render(schema)
        if check:
            if not path.exists() or path.read_text() != text:
                differ.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if differ:
        print("out of date (python scripts/write_schemas.py): " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
