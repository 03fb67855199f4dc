"""Options of a run that do not belong to the scenario (they say how to run it, not what)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.dut import ConntrackDriver

if TYPE_CHECKING:
    from ostinato_tcp.scenario import Scenario


@dataclass
class RunOptions:
    force: bool = False  # run a plan that was refused (to see the diagnosis)
    drone_backend: str = "builtin"
    accept_new_host_key: bool = False
    dut_password: str | None = field(default=None, repr=False)
    poll_interval: float | None = None  # overrides dut.poll_interval
    disable_stream: str | None = None  # a leg's role (synack, ack, rst, fin, finack, lastack): a deliberately lost leg (for diagnosis tests)
    rpc_timeout: float = 15.0
    take_over_ports: bool = False  # use ports holding foreign streams; they are disabled, then restored
    keep_entries: bool = False  # leave the test's entries on the DUT after the verdict (for inspection)
    overfill: bool = False  # the capacity probe: more connections than the table takes, on purpose
    reserved_entries: int = 0  # a run over several port pairs: the entries the other pairs add
    recheck_build: bool = False  # check the fast build's checksums on a capture even when an earlier run did
    fault_fast_build: int = 0  # tests only: add this to every TCP checksum the fast build gives


def open_dut(sc: "Scenario", opts: RunOptions) -> ConntrackDriver:
    """Log in to the scenario's DUT with the run's SSH options."""
    return ConntrackDriver.open(sc.dut, accept_new_host_key=opts.accept_new_host_key, password=opts.dut_password)
