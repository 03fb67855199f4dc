"""The command group, how errors become one line and an exit code, and the options several
commands share (declared once here)."""

from __future__ import annotations

import json
import logging
import sys

import click

from .. import _signals
from ..errors import EXIT_INFRA, Interrupted, OstinatoTcpError

log = logging.getLogger("ostinato_tcp")
_DEBUG = False  # set by --debug


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def error_line(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return (f"ostinato-tcp: stopped by {exc}: transmit stopped on every port of the run, what it created on "
                "Drone removed, port settings restored")
    return f"ostinato-tcp: error: {exc}"


class Group(click.Group):
    """Turns errors into one line on stderr and an exit code; ``--debug`` adds the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (OstinatoTcpError, Interrupted) as exc:
            traceback_if_debug()
            click.echo(error_line(exc), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: still one line, unless --debug
            traceback_if_debug()
            click.echo(f"ostinato-tcp: internal error (a bug; --debug shows the traceback): "
                       f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(EXIT_INFRA)


def traceback_if_debug() -> None:
    if _DEBUG:
        import traceback

        traceback.print_exc()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Debug log output and a traceback with every error.")
@click.version_option(package_name="ostinato-tcp")
def cli(verbose: int, debug: bool) -> None:
    """Establish N fake TCP connections through a DUT with Ostinato's Drone and prove them in conntrack."""
    global _DEBUG
    _DEBUG = debug
    level = logging.DEBUG if debug else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _signals.install()


# ---------------------------------------------------------------------------- shared options
def lab_option(fn):
    return click.option("--lab", "lab_prefix", default=None, metavar="PREFIX",
                        help="Take Drone and DUT endpoints from this running built-in lab (overrides the "
                             "scenario's 'lab:').")(fn)


def ssh_options(fn):
    """How to log in to the DUT (plan, run, verify, sweep)."""
    fn = click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")(fn)
    fn = click.option("--accept-new-host-key", is_flag=True,
                      help="Add an unknown DUT host key to known_hosts (a changed key is still refused).")(fn)
    return fn


def drone_options(fn):
    """How to reach Drone and what a run may take over (run, sweep, cleanup)."""
    fn = click.option("--drone-backend", type=click.Choice(["builtin", "python-ostinato"]), default="builtin",
                      show_default=True, help="How to talk to Drone.")(fn)
    return fn


def take_over_option(fn):
    return click.option(
        "--take-over-ports", is_flag=True,
        help="Use ports that carry streams or device groups ostinato-tcp did not create, or a user's reservation: "
             "their streams are disabled for the run and re-enabled after it; interleaved mode is switched to "
             "sequential and back. Nothing of theirs is deleted; a port of a live run is never taken.")(fn)


def history_options(fn):
    fn = click.option("--no-history", is_flag=True, help="Do not record in the history database.")(fn)
    fn = click.option("--history-db", type=click.Path(dir_okay=False), default=None,
                      help="SQLite file that records every run [default: $OSTINATO_TCP_HISTORY, else the user's "
                           "data directory].")(fn)
    return fn


def load(path: str, lab_prefix: str | None):
    from ..lab import read_endpoints
    from ..scenario import load_scenario

    return load_scenario(path, lab=lab_prefix, lab_reader=read_endpoints)


def password(ask: bool) -> str | None:
    if not ask:
        return None
    import getpass

    return getpass.getpass("DUT SSH password: ")
