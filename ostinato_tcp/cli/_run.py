"""``ostinato-tcp plan / run / verify / cleanup``: one scenario at a time."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted
from ostinato_tcp.cli._base import (cli, drone_options, emit_json, error_line, history_options, html_option, load, output_options, password,
                    scenario_options, ssh_options, take_over_option, traceback_if_debug)


@cli.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--offline", is_flag=True, help="Do not read the DUT's timeouts and capacity; use kernel defaults.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the plan has problems (they are still shown).")
@output_options
@ssh_options
def plan_cmd(scenario, lab, lab_file, sets, offline, exit_zero, json, report_json, accept_new_host_key,
             ask_dut_password) -> None:
    """Show the timing and layout of a run without sending a packet (exit 2 when it cannot work)."""
    from ostinato_tcp.run.dut_phases import plan_facts
    from ostinato_tcp.run.connect import open_dut
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.domain.plan import make_plan

    top = load(scenario, lab, lab_file, sets)
    plans = []
    for sc in top.pair_scenarios():  # one plan per port pair
        facts = None
        if not offline:
            opts = RunOptions(accept_new_host_key=accept_new_host_key, dut_password=password(ask_dut_password))
            with open_dut(sc, opts) as dut:
                facts = plan_facts(dut, dut.health(), sc)
        plan = make_plan(sc, facts, force=True)  # to show every problem, not only the first refusal
        plan.forced = exit_zero
        plans.append(plan)
        if not (json or report_json == "-"):
            if top.pair_count > 1:
                click.echo(f"pair {len(plans)} of {top.pair_count}: ports {sc.ports.a.ref} -> {sc.ports.b.ref}, "
                           f"{sc.connections.count} of the {top.connections.count} connections")
            for line in plan.describe():
                click.echo(line)
    data = {"scenario_name": top.name, "total": top.connections.count, "pair_count": len(plans),
            "expected_seconds": max(p.expected_seconds for p in plans),
            "problems": [q if len(plans) == 1 else f"pair {i + 1}: {q}" for i, p in enumerate(plans) for q in p.problems],
            "warnings": [w if len(plans) == 1 else f"pair {i + 1}: {w}" for i, p in enumerate(plans) for w in p.warnings],
            "pairs": [{"pair": i + 1, "scenario_name": p.scenario.name, **p.to_dict()} for i, p in enumerate(plans)]}
    emit_json(data, kind="plan", as_json=json, report_json=report_json)
    if any(p.problems for p in plans) and not exit_zero:
        click.echo("ostinato-tcp: the plan cannot work (see REFUSED above); fix the scenario or use --exit-zero",
                   err=True)
        sys.exit(EXIT_USAGE)


@cli.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--ignore-plan-checks", is_flag=True,
              help="Run even when the plan says it cannot work (to see the diagnosis of what breaks).")
@output_options
@click.option("--junit", type=click.Path(dir_okay=False), help="Write the result as JUnit XML to this file.")
@html_option
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the summary (measures the same).")
@drone_options
@ssh_options
@click.option("--poll-interval", type=float, default=None,
              help="Seconds between polls of the DUT's conntrack count during the run; 0 turns polling off.")
@click.option("--disable-stream", type=click.Choice(["synack", "ack", "rst", "fin", "finack", "lastack"]), default=None, hidden=True,
              help="Send without this leg (to see the diagnosis of a lost leg).")
@click.option("--fresh-probe", is_flag=True,
              help="Measure Drone again before the run (send ceiling, build cost, the fast build's checksums) "
                   "instead of resting on what a run measured on the same ports in the last hour (day, for the "
                   "checksums).")
@click.option("--keep-entries", is_flag=True,
              help="Leave the test's entries on the DUT after the verdict (to inspect them; dut.clear_after says "
                   "the same in the scenario).")
@history_options
@take_over_option
def run_cmd(scenario, lab, lab_file, sets, ignore_plan_checks, json, report_json, junit, report_html, quiet,
            drone_backend, accept_new_host_key, ask_dut_password, poll_interval, disable_stream, fresh_probe, keep_entries,
            history_db, no_history, take_over_ports) -> None:
    """Establish the scenario's connections through the DUT and prove them in its conntrack table.

    Exit codes: 0 every expected connection ESTABLISHED+ASSURED, 1 the verdict failed,
    2 bad scenario or usage (or the plan cannot work), 3 Drone or DUT unreachable or another fault.
    """
    from ostinato_tcp.cli._console import make_events
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.report import result_to_dict, summary_lines
    from ostinato_tcp.run.api import run_scenario

    sc = load(scenario, lab, lab_file, sets)
    opts = RunOptions(force=ignore_plan_checks, drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), poll_interval=poll_interval,
                      disable_stream=disable_stream, take_over_ports=take_over_ports, keep_entries=keep_entries,
                      recheck_build=fresh_probe)
    events = make_events(quiet or json)
    outputs = dict(json=json, report_json=report_json, junit=junit, report_html=report_html, history_db=history_db,
                   history=not no_history)
    try:
        result = run_scenario(sc, opts, events)
    except Interrupted as exc:
        # The clean-up is done; a scheduled job still gets a report saying why the run stopped.
        _write_run_outputs(result_to_dict(exc.result), sc.name, **outputs)
        raise
    finally:
        close = getattr(events, "close", None)
        if close:
            close()
    if result.exception is not None and result.exit_code == EXIT_USAGE:
        raise result.exception  # bad input: one line, exit 2, no report (nothing happened)
    if result.exception is not None and result.verdict is None and not result.ports:
        # refused before any port was touched (unreachable Drone or DUT): one line, no summary
        _write_run_outputs(result_to_dict(result), sc.name, **outputs)
        raise result.exception
    if not json and report_json != "-":
        for line in summary_lines(result):
            click.echo(line)
    if result.error:
        traceback_if_debug()
        click.echo(error_line(result.exception) if result.exception else f"ostinato-tcp: error: {result.error}",
                   err=True)
    _write_run_outputs(result_to_dict(result), sc.name, **outputs)
    sys.exit(result.exit_code)


def _write_run_outputs(data: dict, name: str, *, json: bool, report_json, junit, report_html, history_db,
                       history: bool) -> None:
    """--json / --report-json, --junit, --report-html and the history record of one run."""
    from ostinato_tcp.errors import OstinatoTcpError

    emit_json(data, kind="run", as_json=json, report_json=report_json)
    if report_html:
        from ostinato_tcp.report.html import run_html, write_html

        write_html(run_html(data), report_html)
    if junit:
        from ostinato_tcp.report.junit import write_junit

        write_junit([data], junit, suite_name=f"ostinato-tcp {name}")
    if history:
        from ostinato_tcp.report.history import History

        try:
            with History.open(history_db) as hist:
                hist.record(data)
        except OstinatoTcpError as exc:
            click.echo(f"ostinato-tcp: warning: run not recorded in history: {exc}", err=True)


@cli.command("verify")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@click.option("--dump", "dump_file", type=click.Path(dir_okay=False, exists=True),
              help="Judge a saved 'conntrack -L' output instead of the live DUT (offline).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Batch size of the run that made the entries (from its JSON report; matters only with "
                   "several client IPs and batches).")
@output_options
@ssh_options
def verify_cmd(scenario, lab, lab_file, sets, dump_file, batch_size, json, report_json,
               accept_new_host_key, ask_dut_password) -> None:
    """Check the DUT's conntrack table against the scenario now, sending nothing (exit 0 pass, 1 fail)."""
    from ostinato_tcp.run.options import RunOptions
    from ostinato_tcp.jobs.verify import verify_dump_file, verify_live

    top = load(scenario, lab, lab_file, sets)
    if dump_file and top.pair_count > 1:
        raise click.UsageError("--dump judges one pair's dump: run it with one pair's scenario")
    outs = []
    for sc in top.pair_scenarios():
        if dump_file:
            out = verify_dump_file(sc, dump_file, batch_size=batch_size)
        else:
            out = verify_live(sc, RunOptions(accept_new_host_key=accept_new_host_key,
                                             dut_password=password(ask_dut_password)), batch_size=batch_size)
        outs.append(out)
        if not json and report_json != "-":
            for line in out.lines():
                click.echo(line if top.pair_count == 1 else f"pair {len(outs)}: {line}")
    emit_json({"scenario_name": top.name, "verdict": "pass" if all(o.verdict.passed for o in outs) else "fail",
               "expected": sum(o.scenario.connections.count for o in outs),
               "established_assured": sum(o.verdict.established_assured for o in outs),
               "pairs": [{"pair": i + 1, **o.to_dict()} for i, o in enumerate(outs)]},
              kind="verify", as_json=json, report_json=report_json)
    sys.exit(EXIT_OK if all(o.verdict.passed for o in outs) else EXIT_FAILED)


@cli.command("cleanup")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@drone_options
@click.option("--remove-live-tag", is_flag=True,
              help="Also when a port is tagged by a run that may still be going (another host's run that is gone).")
@output_options
def cleanup_cmd(scenario, lab, lab_file, sets, drone_backend, remove_live_tag, json, report_json) -> None:
    """Remove streams and device groups an interrupted run of SCENARIO left on its Drone ports,
    and the port tag of a run that is gone."""
    from ostinato_tcp.drone import open_drone
    from ostinato_tcp.drone.port import remove_leftovers

    removed = []
    top = load(scenario, lab, lab_file, sets)
    for sc in top.pair_scenarios():
        for side in ("a", "b"):
            spec = getattr(sc.ports, side)
            ep = sc.drones[spec.drone]
            with open_drone(ep.host, ep.port, backend=drone_backend) as drone:
                removed += remove_leftovers(drone, spec.ref, sc.name, force=remove_live_tag)
    emit_json({"scenario_name": top.name, "removed": removed}, kind="cleanup", as_json=json, report_json=report_json)
    if not (json or report_json == "-"):
        click.echo("removed " + ", ".join(removed) if removed else "nothing of ostinato-tcp was left on the ports")
