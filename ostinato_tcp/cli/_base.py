"""The command group, how errors become one line and an exit code, and the options several
commands share (declared once here).

Conventions every command follows:

* ``--json`` prints the command's result as JSON on stdout (progress stays on stderr);
  ``--report-json FILE`` writes it to a file, ``-`` meaning stdout;
* ``-v``/``--verbose`` and ``--debug`` are accepted before or after the command;
* an option can come from the environment: ``OSTINATO_TCP_<COMMAND>_<OPTION>``, named as the
  user types them (``OSTINATO_TCP_RUN_DRONE_BACKEND=python-ostinato`` for ``run
  --drone-backend``), each shown in --help; the history database from ``OSTINATO_TCP_HISTORY``.
  The options that widen what a run may touch (``--accept-new-host-key``,
  ``--take-over-ports``, ...) are flags only;
* ``-q``/``--quiet`` only changes what is printed, never what is measured.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from ostinato_tcp.errors import EXIT_BUG, EXIT_PIPE, Interrupted, OstinatoTcpError, exit_codes_text

log = logging.getLogger("ostinato_tcp")
ENV_PREFIX = "OSTINATO_TCP"
_state = {"debug": False, "verbose": 0}


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def emit_json(data, *, kind: str, as_json: bool, report_json: str | None) -> None:
    """``--json`` (stdout) and ``--report-json FILE`` (``-``: stdout), each at most once; the
    data carry their kind and schema version (report/contract.py)."""
    from ostinato_tcp.report.contract import check_if_asked, stamp

    data = stamp(kind, data)
    check_if_asked(data)
    to_stdout = as_json or report_json == "-"
    if to_stdout:
        echo_json(data)
    if report_json and report_json != "-":
        from ostinato_tcp.report import write_json

        write_json(data, report_json)


def print_job_report(report, data: dict, lines, *, kind: str, as_json: bool, report_json: str | None) -> None:
    """A job's report (a JobOutcome): its text lines unless JSON goes to stdout, the error line if
    it stopped, then the JSON asked for. A refusal before anything was sent is the caller's to raise."""
    if not as_json and report_json != "-":
        for line in lines(data):
            click.echo(line)
    if report.error:
        traceback_if_debug()
        click.echo(error_line(report.exception), err=True)
    emit_json(data, kind=kind, as_json=as_json, report_json=report_json)


def error_line(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return (f"ostinato-tcp: stopped by {exc}: transmit stopped on every port of the run, what it created on "
                "Drone removed, port settings restored")
    return "\n".join(f"ostinato-tcp: error: {line}" for line in str(exc).splitlines() or [""])


def traceback_if_debug() -> None:
    if _state["debug"]:
        import traceback

        traceback.print_exc()


def _set_logging(verbose: int, debug: bool) -> None:
    _state["debug"] = _state["debug"] or debug
    _state["verbose"] = max(_state["verbose"], verbose)
    level = logging.DEBUG if _state["debug"] else logging.WARNING - 10 * min(_state["verbose"], 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def _verbosity_params() -> list[click.Option]:
    return [click.Option(["-v", "--verbose"], count=True, expose_value=False, is_eager=True,
                         help="More log output (-vv for debug); also before the command.",
                         callback=lambda ctx, p, v: _set_logging(v, False) if v else None),
            click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True,
                         help="Debug log output and a traceback with every error; also before the command.",
                         callback=lambda ctx, p, v: _set_logging(0, True) if v else None)]


EPILOG = "\b\nExit codes:\n" + exit_codes_text()  # \b: click keeps the lines as they are


class Command(click.Command):
    """A command that also takes -v/--debug after its name, and lists the exit codes in its --help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(*args, **kwargs)
        self.params.extend(_verbosity_params())


class Group(click.Group):
    """Turns errors into one line on stderr and an exit code; ``--debug`` adds the traceback."""

    command_class = Command

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.group_class = Group

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (OstinatoTcpError, Interrupted) as exc:
            traceback_if_debug()
            click.echo(error_line(exc), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # the reader of standard output went away (e.g. '| head -1'): stop quietly
            quiet_stdout()
            ctx.exit(EXIT_PIPE)
        except Exception as exc:  # a bug: still one line, unless --debug
            traceback_if_debug()
            click.echo(f"ostinato-tcp: internal error (a bug; --debug shows the traceback): "
                       f"{type(exc).__name__}: {exc}", err=True)
            ctx.exit(EXIT_BUG)


def quiet_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# Options that an environment variable must never turn on: each changes what a run may touch
FLAG_ONLY = {"accept_new_host_key", "take_over_ports", "remove_live_tag", "ignore_plan_checks", "ask_dut_password"}


def name_envvars(group: click.Group, path: tuple[str, ...] = ()) -> None:
    """Give every option of every command its environment variable, named after the command and
    the option as the user types them (``OSTINATO_TCP_RUN_DRONE_BACKEND`` for ``run
    --drone-backend``), shown in --help; the options in FLAG_ONLY get none."""
    for name, cmd in group.commands.items():
        here = path + (name,)
        if isinstance(cmd, click.Group):
            name_envvars(cmd, here)
            continue
        for opt in cmd.params:
            if not isinstance(opt, click.Option) or opt.name in ("help", "verbose", "debug"):
                continue
            if opt.name in FLAG_ONLY:
                opt.envvar, opt.allow_from_autoenv = None, False
                continue
            if opt.envvar is None:
                long = max(opt.opts, key=len).lstrip("-").upper().replace("-", "_")
                opt.envvar = "_".join((ENV_PREFIX, *(p.upper().replace("-", "_") for p in here), long))
            opt.show_envvar = True


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
             epilog=EPILOG)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Debug log output and a traceback with every error.")
@click.version_option(package_name="ostinato-tcp", help="Show the version and exit.")
def cli(verbose: int, debug: bool) -> None:
    """Establish N fake TCP connections through a DUT with Ostinato's Drone and prove them in conntrack."""
    _set_logging(verbose, debug)


# ---------------------------------------------------------------------------- shared options
def scenario_options(fn):
    """Where the scenario's endpoints come from, and changes to it."""
    fn = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                      help="Change a scenario value, e.g. --set traffic.rate=5000 (repeatable; validated like the "
                           "file).")(fn)
    fn = click.option("--lab-file", type=click.Path(dir_okay=False), default=None,
                      help="A lab file (drones, ports, devices, DUT) the scenario is a test profile for (overrides "
                           "the scenario's 'lab_file:').")(fn)
    return click.option("--lab", "lab", default=None, metavar="PREFIX",
                        help="Take Drone and DUT endpoints from this running built-in lab (overrides the "
                             "scenario's 'lab:').")(fn)


def output_options(fn):
    fn = click.option("--report-json", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                      help="Write the result as JSON to this file ('-': standard output).")(fn)
    return click.option("--json", "json", is_flag=True,
                        help="Print the result as JSON on standard output instead of text.")(fn)


def html_option(fn):
    return click.option("--report-html", type=click.Path(dir_okay=False), default=None,
                        help="Write the report as one self-contained HTML file (plots embedded, nothing fetched).")(fn)


def ssh_options(fn):
    """How to log in to the DUT."""
    fn = click.option("--ask-dut-password", is_flag=True, help="Prompt for the DUT's SSH password.")(fn)
    return click.option("--accept-new-host-key", is_flag=True,
                        help="Add an unknown DUT host key to known_hosts (a changed key is still refused).")(fn)


def drone_options(fn):
    return click.option("--drone-backend", type=click.Choice(["builtin", "python-ostinato"]), default="builtin",
                        show_default=True, help="How to talk to Drone.")(fn)


def take_over_option(fn):
    return click.option(
        "--take-over-ports", is_flag=True,
        help="Use ports that carry streams or device groups ostinato-tcp did not create, or a user's reservation: "
             "their streams are disabled for the run and re-enabled after it; interleaved mode is switched to "
             "sequential and back. Nothing of theirs is deleted; a port of a live run is never taken.")(fn)


def history_options(fn):
    fn = click.option("--no-history", is_flag=True, help="Do not record in the history database.")(fn)
    return history_db_option(fn)


def history_db_option(fn):
    return click.option("--history-db", type=click.Path(dir_okay=False), default=None, envvar="OSTINATO_TCP_HISTORY",
                        help="SQLite file of the run history [default: history.sqlite in the user's data "
                             "directory].")(fn)


def load(path: str, lab_prefix: str | None, lab_file: str | None = None, sets=()):
    from ostinato_tcp.lab import read_endpoints
    from ostinato_tcp.scenario import load_scenario

    return load_scenario(path, lab=lab_prefix, lab_reader=read_endpoints, lab_file=lab_file, sets=list(sets))


def password(ask: bool) -> str | None:
    if not ask:
        return None
    import getpass

    return getpass.getpass("DUT SSH password: ")


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script (bash: eval "$(ostinato-tcp completion bash)")."""
    from click.shell_completion import get_completion_class

    comp = get_completion_class(shell)(cli, {}, "ostinato-tcp", "_OSTINATO_TCP_COMPLETE")
    click.echo(comp.source())
