"""A sweep's figures from its points' results (RFC 9693's terms, from measured rates only: see
:mod:`.sweep`), and its outputs: results.csv, results.json, junit.xml and the plots."""

from __future__ import annotations

import csv
from pathlib import Path

from ostinato_tcp.report import write_json
from ostinato_tcp.report.contract import check_if_asked, stamp


def measured_rate(r: dict) -> float | None:
    return _offered(r).get("per_second") or None


MAX_BOUND_PCT = 5.0  # a measured rate counts for the maximum only when known within 5%


def _offered(r: dict) -> dict:
    """The point's connection rate: its offered connection rate, or over several port pairs the
    aggregate connection rate (docs/figures.md)."""
    rates = r.get("rates") or {}
    if len(r.get("pairs") or []) > 1:
        return rates.get("aggregate_connection_rate") or {}
    return rates.get("offered_connection_rate") or {}


def established_rate(r: dict) -> float | None:
    """The connection rate a point proves the DUT establishes connections at: its measured
    offered connection rate when every connection was proven (the point passed) and the rate is
    known within :data:`MAX_BOUND_PCT`; else None. The sweep's maximum connection establishment
    rate is the highest of these; a benchmark's step (:mod:`.benchmark`) needs one too."""
    o = _offered(r)
    if point_status(r) != "pass" or o.get("bound_pct") is None or o["bound_pct"] > MAX_BOUND_PCT:
        return None
    return o.get("per_second") or None


LOSS_COUNTERS = ("drop", "early_drop", "insert_failed")  # conntrack -S counters that count a connection lost


def _teardown_rate(r: dict, key: str = "offered_teardown_rate") -> dict:
    return ((r.get("teardown") or {}).get(key) or {})


def _max_teardown(results: list[dict]) -> dict:
    """Per count: the highest measured offered tear-down rate among points that passed (every
    connection established and closed), no port lagged, known within 5%."""
    out = {}
    for r in results:
        td = _teardown_rate(r)
        if point_status(r) != "pass" or td.get("bound_pct") is None or td["bound_pct"] > MAX_BOUND_PCT:
            continue
        best = out.get(str(r["count"]))
        if best is None or td["per_second"] > best["teardowns_per_second"]:
            retire = _teardown_rate(r, "dut_retire_rate")
            out[str(r["count"])] = {"teardowns_per_second": td["per_second"], "bound_pct": td["bound_pct"],
                                    "mode": (r.get("teardown") or {}).get("mode"), "point": r.get("point_name"),
                                    "dut_retire_rate": retire.get("per_second"),
                                    "dut_retire_bound_pct": retire.get("bound_pct")}
    return out


REFUSALS = ("PlanError", "CapacityError")


def point_status(r: dict) -> str:
    """pass, fail (the DUT), inconclusive (the traffic broke the order, or a port sent short),
    refused (the plan refused the point: e.g. a rate above Drone's ceiling) or error (a fault)."""
    verdict = r.get("verdict")
    if verdict == "error":
        return "refused" if r.get("error_type") in REFUSALS else "error"
    return verdict if verdict in ("pass", "fail", "inconclusive") else "fail"


def point_lagged(r: dict) -> bool:
    """A port sent slower than asked: the point tested its measured rate, not the asked one."""
    return any((p or {}).get("lagged") for p in (r.get("ports") or {}).values())


def summarize(results: list[dict], sweep=None) -> dict:
    """RFC 9693's figures over the points, from measured rates only: the maximum connection
    establishment rate of a count is the highest measured offered connection rate among its
    points that passed with no port lagging, measured within 5%."""
    by_count: dict[int, list[dict]] = {}
    for r in results:
        by_count.setdefault(int(r["count"]), []).append(r)
    max_rate = {}
    for count, rows in sorted(by_count.items()):
        ok = [r for r in rows if established_rate(r) is not None]
        best = max(ok, key=established_rate, default=None)
        failing = [r for r in rows if point_status(r) == "fail" and measured_rate(r)]
        above = [r for r in failing if best is None or measured_rate(r) > _offered(best)["per_second"]]
        first_fail = min(above, key=measured_rate, default=None)
        max_rate[str(count)] = {
            "connections_per_second": _offered(best).get("per_second") if best else None,
            "bound_pct": _offered(best).get("bound_pct") if best else None,
            "point": best.get("point_name") if best else None,
            "asked_rate": best["rate"] if best else None,
            "first_failing_above": measured_rate(first_fail) if first_fail else None,
            "lagged_points": [{"point": r.get("point_name"), "asked_rate": r["rate"], "status": point_status(r),
                               "measured_offered_rate": _offered(r).get("per_second")}
                              for r in rows if point_lagged(r)],
            "not_tested": [{"point": r.get("point_name"), "asked_rate": r["rate"], "status": point_status(r),
                            "why": r.get("error") or "; ".join((r.get("outcome") or {}).get("reasons") or [])}
                           for r in rows if point_status(r) in ("inconclusive", "refused")],
            "not_counted_bound_over_5pct": [r.get("point_name") for r in rows if point_status(r) == "pass"
                                            and r not in ok]}
    full = [int(r["count"]) for r in results if point_status(r) == "pass"]
    ct_max = None
    for r in results:
        after = ((r.get("dut") or {}).get("after") or {})
        if after.get("max"):
            ct_max = after["max"]
    grid = [r for r in results if not r.get("search")]
    return {
        "sweep": sweep.spec.name if sweep else None,
        "points": len(results),
        "grid_points": len(grid),
        "grid_passed": sum(1 for r in grid if point_status(r) == "pass"),
        "grid_failed": sum(1 for r in grid if point_status(r) == "fail"),
        "grid_inconclusive": sum(1 for r in grid if point_status(r) == "inconclusive"),
        "grid_refused": sum(1 for r in grid if point_status(r) == "refused"),
        "grid_lagged": sum(1 for r in grid if point_lagged(r)),
        "errors": sum(1 for r in results if point_status(r) == "error"),
        "maximum_connection_establishment_rate": max_rate,
        "maximum_rate_rule": ("the highest measured offered connection rate (SYNs sent / SYN phase time) among "
                              "points where every connection was ESTABLISHED+ASSURED, at the rate each point measured "
                              f"(lagged or not), known within {MAX_BOUND_PCT:g}%; inconclusive and refused points "
                              "are not counted"),
        "connection_tracking_table_capacity": {"largest_count_fully_established": max(full, default=None),
                                               "dut_nf_conntrack_max": ct_max},
        "connection_teardown_rate": _max_teardown(results),
        "teardown_rate_rule": ("traffic.teardown points only: the highest measured offered tear-down rate (first-leg "
                               "packets sent / that leg's time) among points that passed, every connection closed, "
                               f"known within {MAX_BOUND_PCT:g}%; the DUT's retire rate of that point beside it"),
    }


CSV_FIELDS = ["point_name", "count", "rate", "delay", "search", "status", "verdict", "expected",
              "established_assured", "success_ratio", "mode", "batches", "offered_connection_rate",
              "offered_rate_bound_pct", "end_to_end_rate", "packet_rate_a", "packet_rate_b", "lagged_a", "lagged_b",
              "offered_teardown_rate", "dut_retire_rate", "teardown_closed", "carried_both_ways",
              "configure_s", "build_s", "send_s", "verify_s", "total_s", "error"]


def _side(ports: dict, side: str) -> list[dict]:
    """Port A's (or B's) reports: ``a``, or over several port pairs ``a1``, ``a2``, ..."""
    return [p or {} for k, p in ports.items() if k == side or (k[:1] == side and k[1:].isdigit())]


def _side_rate(ports: dict, side: str) -> float | None:
    """The side's packet rate: the sum over its ports (one port: its own)."""
    rates = [(p.get("packet_rate") or {}).get("per_second") for p in _side(ports, side)]
    return round(sum(rates), 1) if rates and None not in rates else None


def _side_lagged(ports: dict, side: str) -> bool | None:
    found = _side(ports, side)
    return any(p.get("lagged") for p in found) if found else None


def varied_fields(results: list[dict]) -> list[str]:
    """The fields a sweep varies besides count, rate and delay (they have columns of their own)."""
    shorthands = {"connections.count", "traffic.rate", "traffic.delay"}
    out: list[str] = []
    for r in results:
        out += [k for k in (r.get("varied") or {}) if k not in shorthands and k not in out]
    return out


def _csv_row(r: dict) -> dict:
    t = r.get("timings") or {}
    ports = r.get("ports") or {}
    plan = r.get("plan") or {}
    exp = r.get("expected") or 0
    e2e = ((r.get("rates") or {}).get("end_to_end_connection_rate") or {})
    return {
        "point_name": r.get("point_name"), "count": r.get("count"), "rate": r.get("rate"), "delay": r.get("delay"),
        "search": r.get("search", False), "status": point_status(r), "verdict": r.get("verdict"), "expected": exp,
        "established_assured": r.get("established_assured", 0),
        "success_ratio": round((r.get("established_assured", 0) / exp), 6) if exp else 0,
        "mode": plan.get("mode"), "batches": plan.get("batches"),
        "offered_connection_rate": _offered(r).get("per_second"), "offered_rate_bound_pct": _offered(r).get("bound_pct"),
        "end_to_end_rate": e2e.get("per_second"),
        "packet_rate_a": _side_rate(ports, "a"), "packet_rate_b": _side_rate(ports, "b"),
        "lagged_a": _side_lagged(ports, "a"), "lagged_b": _side_lagged(ports, "b"),
        "offered_teardown_rate": _teardown_rate(r).get("per_second"),
        "dut_retire_rate": _teardown_rate(r, "dut_retire_rate").get("per_second"),
        "teardown_closed": (r.get("teardown") or {}).get("closed"),
        "carried_both_ways": (r.get("traffic_proof") or {}).get("carried_both_ways"),
        "configure_s": t.get("configure"), "build_s": t.get("build"), "send_s": t.get("send"),
        "verify_s": t.get("verify"), "total_s": t.get("total"), "error": r.get("error", "") or "",
        **{k: v for k, v in (r.get("varied") or {}).items()},
    }


def write_outputs(out: Path, results: list[dict], summary: dict, name: str) -> list[str]:
    """results.csv, results.json, junit.xml and the plots; returns notes (plots skipped)."""
    from ostinato_tcp.report.junit import write_junit
    from ostinato_tcp.report.plots import write_plots

    results = sorted(results, key=lambda r: (r.get("search", False), r["count"], r["rate"], str(r.get("delay"))))
    with open(out / "results.csv", "w", newline="") as f:
        # the varied fields' columns after point_name (count, rate and delay have theirs)
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS[:1] + varied_fields(results) + CSV_FIELDS[1:],
                           extrasaction="ignore")
        w.writeheader()
        for r in results:
            w.writerow(_csv_row(r))
    data = stamp("sweep", {"summary": summary, "points": [{k: v for k, v in r.items() if k != "scenario"}
                                                          for r in results]})
    check_if_asked(data)
    write_json(data, out / "results.json")
    write_junit(results, out / "junit.xml", suite_name=f"ostinato-tcp sweep {name}")
    try:
        import matplotlib  # noqa: F401  (the plots extra)
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install 'ostinato-tcp[plots]')"]
    write_plots([_csv_row(r) for r in results], out)
    return []
