"""The project's exceptions.

Every error the library raises on purpose derives from :class:`OstinatoTcpError`;
errors of the libraries underneath (sockets, protobuf, paramiko, yaml) are
translated into these types where they are caught, with ``raise ... from``.

    OstinatoTcpError                 exit code
    ├── UsageError                       2   bad scenario, bad option
    │   ├── ScenarioError                2   names file, line and field
    │   └── PlanError                    2   the plan cannot work; says why and the fix
    ├── CapacityError                    2   the DUT table cannot hold the test
    ├── InfrastructureError              3   something of the lab is unreachable or broken
    │   ├── DroneError                   3   names host:port and the RPC
    │   │   ├── DroneConnectError            refused, unreachable, timeout on connect
    │   │   ├── DroneTimeoutError            no reply within the timeout
    │   │   ├── DroneProtocolError           garbage, oversize frame, closed connection
    │   │   ├── DroneVersionError            Drone refused our version
    │   │   ├── DroneRpcError                error reply, or an Ack with kRpcError
    │   │   └── UnknownPortError         2   no port of that name (the scenario's choice)
    │   ├── DutError                     3
    │   │   ├── SshError                     connect, auth, host key
    │   │   │   ├── HostKeyError             unknown or changed host key
    │   │   │   └── SshDroppedError          the connection died under a command
    │   │   └── DutCommandError              a command failed or timed out
    │   └── LabError                     3   building or tearing down the built-in lab
    └── RunFault                         3   traffic stopped because of a fault

    Interrupted (a BaseException)      130 SIGINT, 143 SIGTERM: transmit stopped, cleaned up

A failed verdict is not an exception: it is data in the run result.
"""

from __future__ import annotations

EXIT_OK = 0  # every expected connection ESTABLISHED+ASSURED (and every port sent its plan)
EXIT_FAILED = 1  # the verdict failed (sweep: a point failed; history: a regression)
EXIT_USAGE = 2  # bad input, a plan that cannot work, a DUT that cannot hold the test: nothing sent
EXIT_INFRA = 3  # Drone or DUT unreachable or faulty; traffic stopped on every port
EXIT_INCONCLUSIVE = 4  # the traffic, not the DUT (EXIT_CODES says how)
EXIT_BUG = 70  # an internal error: a bug of ostinato-tcp (--debug shows the traceback)
EXIT_PIPE = 141  # standard output was closed by its reader (e.g. '| head'): stopped quietly

# The exit codes, written once: the command line's --help epilog, the README and docs/errors.md
# show this table (tests/unit/test_cli_options.py keeps them equal).
EXIT_CODES = {
    EXIT_OK: "PASS: every expected connection ESTABLISHED+ASSURED by this run (check: every check OK or WARN)",
    EXIT_FAILED: "FAIL: the DUT failed connections the traffic delivered in order (sweep: a point failed; "
                 "history --fail-on-regression: a regression, or a failed run with nothing to compare)",
    EXIT_USAGE: "bad input or a refused plan (a rate above Drone's ceiling, a table too small): nothing was sent",
    EXIT_INFRA: "Drone, the DUT or the lab unreachable or faulty; traffic stopped on every port",
    EXIT_INCONCLUSIVE: "INCONCLUSIVE: the traffic, not the DUT (packets left Drone out of order, past the DUT's "
                       "timeouts or short of the plan; sweep: a point could not be tested; history --fail-on-regression: nothing compared)",
    EXIT_BUG: "internal error: a bug of ostinato-tcp (--debug shows the traceback; please report it)",
    130: "SIGINT; 143: SIGTERM (transmit stopped on every port, what the run created removed)",
}


def exit_codes_text() -> str:
    """The table as lines for a --help epilog."""
    return "\n".join(f"{code:>4}  {text}" for code, text in EXIT_CODES.items())


class OstinatoTcpError(Exception):
    """Root of the project's errors."""

    exit_code = EXIT_INFRA


class UsageError(OstinatoTcpError):
    exit_code = EXIT_USAGE


class ScenarioError(UsageError):
    """A scenario file is invalid. The message names file, line and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, more: list[str] | None = None):
        self.file, self.line, self.field = file, line, field
        self.more = list(more or [])  # the file's other errors, each a line of its own ("file:line: field: ...")
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__("\n".join([f"{where}{message}", *self.more]))


class PlanError(UsageError):
    """The plan cannot work; the message says why and how to fix it."""


class CapacityError(OstinatoTcpError):
    exit_code = EXIT_USAGE


class InfrastructureError(OstinatoTcpError):
    exit_code = EXIT_INFRA


class DroneError(InfrastructureError):
    def __init__(self, message: str, *, endpoint: str | None = None, rpc: str | None = None):
        self.endpoint, self.rpc = endpoint, rpc
        parts = []
        if endpoint:
            parts.append(f"Drone {endpoint}")
        if rpc:
            parts.append(rpc)
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DroneConnectError(DroneError):
    pass


class DroneTimeoutError(DroneError):
    pass


class DroneProtocolError(DroneError):
    pass


class DroneVersionError(DroneError):
    pass


class DroneRpcError(DroneError):
    pass


class UnknownPortError(DroneError):
    """Drone has no port of that name: the scenario's choice, so exit 2."""

    exit_code = EXIT_USAGE


class DutError(InfrastructureError):
    pass


class SshError(DutError):
    pass


class HostKeyError(SshError):
    pass


class SshDroppedError(SshError):
    """The SSH connection died while a command ran (the command may be retried)."""


class DutCommandError(DutError):
    pass


class LabError(InfrastructureError):
    pass


class RunFault(InfrastructureError):
    pass


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. A KeyboardInterrupt, so that no ``except Exception``
    swallows it and a test runner stops as on Ctrl-C; the run stops transmit and cleans up,
    then the command line exits 128 + the signal number. ``result``: the run's partial
    result, when a run was stopped."""

    result = None

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)
