"""``ostinato-tcp plan / run / verify / cleanup``: one scenario at a time."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted
from ._base import (drone_options, echo_json, error_line, history_options, lab_option, load, password, ssh_options,
                    take_over_option, traceback_if_debug)


@click.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=False))
@lab_option
@click.option("--offline", is_flag=True, help="Do not read the DUT's timeouts and capacity; use kernel defaults.")
@click.option("--force", is_flag=True, help="Exit 0 even when the plan has problems.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@ssh_options
def plan_cmd(scenario, lab_prefix, offline, force, as_json, accept_new_host_key, ask_dut_password) -> None:
    """Show the timing and layout of a run without sending a packet (exit 2 when it cannot work)."""
    from ..options import RunOptions, open_dut
    from ..plan import make_plan

    sc = load(scenario, lab_prefix)
    facts = None
    if not offline:
        opts = RunOptions(accept_new_host_key=accept_new_host_key, dut_password=password(ask_dut_password))
        with open_dut(sc, opts) as dut:
            facts = dut.health().facts(f"read from the DUT {dut.where}")
    plan = make_plan(sc, facts, force=True)  # to show every problem, not only the first refusal
    plan.forced = force
    if as_json:
        echo_json(plan.to_dict())
    else:
        for line in plan.describe():
            click.echo(line)
    if plan.problems and not force:
        click.echo("ostinato-tcp: the plan cannot work (see REFUSED above); fix the scenario or use --force",
                   err=True)
        sys.exit(EXIT_USAGE)


@click.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False))
@lab_option
@click.option("--force", is_flag=True, help="Run even when the plan says it cannot work (for diagnosis).")
@click.option("--report-json", type=click.Path(dir_okay=False), help="Write the result as JSON to this file.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write the result as JUnit XML to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the summary.")
@drone_options
@ssh_options
@click.option("--poll-interval", type=float, default=None,
              help="Seconds between polls of the DUT's conntrack count during the run; 0 turns polling off.")
@click.option("--disable-stream", type=click.Choice(["synack", "ack"]), default=None, hidden=True,
              help="Send without this leg (to see the diagnosis of a lost leg).")
@history_options
@take_over_option
def run_cmd(scenario, lab_prefix, force, report_json, junit, quiet, drone_backend, accept_new_host_key,
            ask_dut_password, poll_interval, disable_stream, history_db, no_history, take_over_ports) -> None:
    """Establish the scenario's connections through the DUT and prove them in its conntrack table.

    Exit codes: 0 every expected connection ESTABLISHED+ASSURED, 1 the verdict failed,
    2 bad scenario or usage (or the plan cannot work), 3 Drone or DUT unreachable or another fault.
    """
    from .._console import make_events
    from ..options import RunOptions
    from ..report import result_to_dict, summary_lines
    from ..run import Runner

    sc = load(scenario, lab_prefix)
    opts = RunOptions(force=force, drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), poll_interval=poll_interval,
                      disable_stream=disable_stream, take_over_ports=take_over_ports)
    events = make_events(quiet)
    try:
        result = Runner(sc, opts, events).run()
    except Interrupted as exc:
        # The clean-up is done; a scheduled job still gets a report saying why the run stopped.
        _write_run_outputs(result_to_dict(exc.result), sc.name, report_json, junit, history_db,
                           history=not no_history)
        raise
    finally:
        close = getattr(events, "close", None)
        if close:
            close()
    if result.exception is not None and result.exit_code == EXIT_USAGE:
        raise result.exception  # bad input: one line, exit 2, no report (nothing happened)
    if result.exception is not None and result.verdict is None and not result.ports:
        # refused before any port was touched (unreachable Drone or DUT): one line, no summary
        _write_run_outputs(result_to_dict(result), sc.name, report_json, junit, history_db, history=not no_history)
        raise result.exception
    for line in summary_lines(result):
        click.echo(line)
    if result.error:
        traceback_if_debug()
        click.echo(error_line(result.exception) if result.exception else f"ostinato-tcp: error: {result.error}",
                   err=True)
    _write_run_outputs(result_to_dict(result), sc.name, report_json, junit, history_db, history=not no_history)
    sys.exit(result.exit_code)


def _write_run_outputs(data: dict, name: str, report_json, junit, history_db, *, history: bool) -> None:
    """--report-json, --junit and the history record of one run."""
    from ..errors import OstinatoTcpError
    from ..report import write_json

    if report_json:
        write_json(data, report_json)
    if junit:
        from ..report.junit import write_junit

        write_junit([data], junit, suite_name=f"ostinato-tcp {name}")
    if history:
        from ..history import History

        try:
            with History.open(history_db) as hist:
                hist.record(data)
        except OstinatoTcpError as exc:
            click.echo(f"ostinato-tcp: warning: run not recorded in history: {exc}", err=True)


@click.command("verify")
@click.argument("scenario", type=click.Path(dir_okay=False))
@lab_option
@click.option("--dump", "dump_file", type=click.Path(dir_okay=False, exists=True),
              help="Judge a saved 'conntrack -L' output instead of the live DUT (offline).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Batch size of the run that made the entries (from its JSON report; matters only with "
                   "several client IPs and batches).")
@click.option("--report-json", type=click.Path(dir_okay=False), help="Write the verdict as JSON to this file.")
@ssh_options
def verify_cmd(scenario, lab_prefix, dump_file, batch_size, report_json, accept_new_host_key,
               ask_dut_password) -> None:
    """Check the DUT's conntrack table against the scenario now, sending nothing (exit 0 pass, 1 fail)."""
    from ..options import RunOptions
    from ..verify import verify_dump_file, verify_live

    sc = load(scenario, lab_prefix)
    if dump_file:
        out = verify_dump_file(sc, dump_file, batch_size=batch_size)
    else:
        out = verify_live(sc, RunOptions(accept_new_host_key=accept_new_host_key,
                                         dut_password=password(ask_dut_password)), batch_size=batch_size)
    for line in out.lines():
        click.echo(line)
    if report_json:
        from ..report import write_json

        write_json(out.to_dict(), report_json)
    sys.exit(EXIT_OK if out.verdict.passed else EXIT_FAILED)


@click.command("cleanup")
@click.argument("scenario", type=click.Path(dir_okay=False))
@lab_option
@drone_options
@click.option("--force", is_flag=True, help="Also when a port is tagged by a run that may still be going (another "
                                            "host's, say).")
def cleanup_cmd(scenario, lab_prefix, drone_backend, force) -> None:
    """Remove streams and device groups an interrupted run of SCENARIO left on its Drone ports,
    and the port tag of a run that is gone."""
    from ..drone import open_drone
    from ..ports import remove_leftovers

    sc = load(scenario, lab_prefix)
    removed = []
    for side in ("a", "b"):
        spec = getattr(sc.ports, side)
        ep = sc.drones[spec.drone]
        with open_drone(ep.host, ep.port, backend=drone_backend) as drone:
            removed += remove_leftovers(drone, spec.interface, sc.name, force=force)
    click.echo("removed " + ", ".join(removed) if removed else "nothing of ostinato-tcp was left on the ports")
