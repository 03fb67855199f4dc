"""The ``ostinato-tcp`` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_USAGE, OstinatoTcpError
from . import _lab  # noqa: F401  (registers the lab group)
from ._base import cli
from ._history import history_cmd, sweep_cmd
from ._run import cleanup_cmd, plan_cmd, run_cmd, verify_cmd

for _cmd in (plan_cmd, run_cmd, verify_cmd, cleanup_cmd, history_cmd, sweep_cmd):
    cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ostinato-tcp", standalone_mode=True)
    except OstinatoTcpError as exc:  # raised outside a command (should not happen)
        click.echo(f"ostinato-tcp: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))


__all__ = ["cli", "main"]
