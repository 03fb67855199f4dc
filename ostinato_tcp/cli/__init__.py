"""The ``ostinato-tcp`` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_USAGE, OstinatoTcpError
from ostinato_tcp.cli import _capacity, _history, _lab, _prepare, _run  # noqa: F401  (each registers its commands on the group)
from ostinato_tcp.cli._base import cli


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ostinato-tcp", standalone_mode=True)
    except OstinatoTcpError as exc:  # raised outside a command (should not happen)
        click.echo(f"ostinato-tcp: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))


__all__ = ["cli", "main"]
