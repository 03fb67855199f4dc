"""Options of a run that do not belong to the scenario: they say how to run it, not what.

The flags a user gives (the command line's options), then two fault injections that make a
run fail on purpose, for diagnosis tests and demos (``--disable-stream``; a wrong fast-build
checksum). How Drones and the DUT are reached is :class:`~ostinato_tcp.run.connect.Openers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunOptions:
    force: bool = False  # run a plan that was refused (to see the diagnosis)
    drone_backend: str = "builtin"
    accept_new_host_key: bool = False
    dut_password: str | None = field(default=None, repr=False)
    poll_interval: float | None = None  # overrides dut.poll_interval
    rpc_timeout: float = 15.0
    take_over_ports: bool = False  # use ports holding foreign streams; they are disabled, then restored
    keep_entries: bool = False  # leave the test's entries on the DUT after the verdict (for inspection)
    recheck_build: bool = False  # probe Drone again (ceiling, build cost, checksums) even when an earlier run did
    # fault injection: a run that fails on purpose
    disable_stream: str | None = None  # a leg's role (synack, ack, rst, fin, finack, lastack): Drone never sends it
    fault_fast_build: int = 0  # add this to every TCP checksum the fast build gives (its fall-back is then tested)
