"""``ostinato-tcp capacity``: fill the DUT's conntrack table past its size on purpose."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_USAGE
from ostinato_tcp.cli._base import (cli, drone_options, emit_json, error_line, load, output_options, password, scenario_options,
                    ssh_options, take_over_option, traceback_if_debug)


@cli.command("capacity")
@click.argument("scenario", type=click.Path(dir_okay=False))
@scenario_options
@output_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the summary.")
@click.option("--keep-entries", is_flag=True, help="Leave the test's entries on the DUT afterwards (to inspect them).")
@drone_options
@ssh_options
@take_over_option
def capacity_cmd(scenario, lab, lab_file, sets, json, report_json, quiet, keep_entries, drone_backend,
                 accept_new_host_key, ask_dut_password, take_over_ports) -> None:
    """Send more connections than the DUT's conntrack table can take (connections.count above its
    free entries) and report how many it holds ESTABLISHED+ASSURED at once, what it did with
    the rest (early_drop, drop, insert_failed) and whether ASSURED entries survived.

    Exit codes: 0 measured, no ASSURED entry evicted; 1 ASSURED entries were evicted; 2 bad
    input (e.g. a count that fits); 3 a lab fault."""
    from ostinato_tcp.cli._console import make_events
    from ostinato_tcp.jobs.capacity import probe_capacity
    from ostinato_tcp.run.options import RunOptions

    sc = load(scenario, lab, lab_file, sets)
    opts = RunOptions(drone_backend=drone_backend, accept_new_host_key=accept_new_host_key,
                      dut_password=password(ask_dut_password), take_over_ports=take_over_ports,
                      keep_entries=keep_entries)
    events = make_events(quiet or json)
    try:
        report = probe_capacity(sc, opts, events)
    finally:
        close = getattr(events, "close", None)
        if close:
            close()
    r = report.result
    if r.exception is not None and r.exit_code == EXIT_USAGE:
        raise r.exception
    if not json and report_json != "-":
        for line in report.lines():
            click.echo(line)
    if r.error:
        traceback_if_debug()
        click.echo(error_line(r.exception) if r.exception else f"ostinato-tcp: error: {r.error}", err=True)
    emit_json(report.to_dict(), kind="capacity", as_json=json, report_json=report_json)
    sys.exit(report.exit_code)
