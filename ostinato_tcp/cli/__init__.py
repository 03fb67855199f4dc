"""The ``ostinato-tcp`` command line: the only place that prints and picks exit codes."""

from __future__ import annotations

import sys

import click

from ostinato_tcp.errors import EXIT_PIPE, EXIT_USAGE, OstinatoTcpError
from ostinato_tcp.cli import _benchmark, _capacity, _conformance, _history, _lab, _prepare, _run  # noqa: F401  (each registers its commands on the group)
from ostinato_tcp.cli._base import cli, name_envvars, quiet_stdout

name_envvars(cli)


def main(argv: list[str] | None = None) -> None:
    """The command line: every error one line on stderr, and an exit code (``ostinato-tcp --help``)."""
    try:
        code = cli.main(args=argv, prog_name="ostinato-tcp", standalone_mode=False)
    except click.exceptions.UsageError as exc:  # one line, naming the command's help
        where = f" (see 'ostinato-tcp {exc.ctx.command_path.split(' ', 1)[1]} --help')" if exc.ctx and \
            " " in exc.ctx.command_path else " (see 'ostinato-tcp --help')"
        click.echo(f"ostinato-tcp: error: {exc.format_message()}{where}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("ostinato-tcp: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"ostinato-tcp: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(EXIT_PIPE)
    except OstinatoTcpError as exc:  # raised outside a command (should not happen)
        click.echo(f"ostinato-tcp: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["cli", "main"]
