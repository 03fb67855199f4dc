"""Shared fixtures. Lab tests run against a real lab of their own (prefix ``otcpt``).

A lab test that cannot get its lab fails; it is never skipped. A session in which
any lab test was skipped ends with a failing exit status.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every JSON output the tool writes during the tests (the commands the lab tests run too) is
# validated against its shipped schema as it is written: a mismatch is a bug (exit 70)
os.environ["OSTINATO_TCP_CHECK_SCHEMAS"] = "1"
FIXTURES = ROOT / "tests" / "fixtures"
TEST_LAB = dict(prefix="otcpt", mgmt_net="198.18.1.0/24", sudo_user=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for line in DRONE_STALLS:
        reporter.write_line(f"lab Drone stalled before a test: {line}", yellow=True)
    skipped_lab = [r for r in reporter.stats.get("skipped", []) if "tests/lab/" in str(r.nodeid)]
    if skipped_lab and exitstatus == 0:
        reporter.write_line(f"FAIL: {len(skipped_lab)} lab test(s) were skipped; lab tests must run", red=True)
        session.exitstatus = 1


# Drone 1.2 (Debian 12) can deadlock a port's capture thread when a stopCapture meets a frame being
# captured (the stop signal's handler allocates inside the thread's own allocation; seen with gdb in
# a fresh-clone run: Capture thread in a malloc lock under the handler, the RPC thread that holds
# the port's lock waiting for it). Every later RPC that reads that port then waits for ever, and
# every lab test after it failed. Before a test on the shared lab starts, its Drone must answer
# getPortConfig: a wait longer than STALL_NOTE is printed at the end of the session with Drone's
# thread states; a Drone that has not answered after STALL_RESTART is restarted (and that is printed
# too). The tests keep every bound they had; the run that wedged Drone reported it (a warning, or
# the error naming the capture stop).
STALL_NOTE, STALL_RESTART = 5.0, 25.0
DRONE_STALLS: list[str] = []


def drone_threads(pidfile: Path) -> str:
    """What each of Drone's threads is blocked in (its kernel wait channel), read from /proc."""
    try:
        pid = int(pidfile.read_text())
        rows = []
        for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda t: int(t.name)):
            comm = (task / "comm").read_text().strip()
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            rows.append(f"{comm}:{state}:{(task / 'wchan').read_text().strip() or '-'}")
        return f"pid {pid} threads " + ", ".join(rows)
    except (OSError, ValueError) as exc:
        return f"threads not readable ({exc})"


def _answers(endpoints, timeout: float) -> bool:
    """The lab's (first) Drone lists its ports' config within ``timeout``; a Drone that is gone
    (connection refused) or does not answer is not answering. The test lab has one Drone."""
    from ostinato_tcp.drone import open_drone
    from ostinato_tcp.errors import DroneError

    try:
        with open_drone(endpoints.drone_a["host"], endpoints.drone_a["port"], timeout=timeout) as d:
            d.getPortConfig(d.getPortIdList(), timeout=timeout)
            return True
    except DroneError:
        return False


def wait_for_drone(endpoints, lab, nodeid: str) -> None:
    """The shared lab's Drone answers before the test, or is restarted (see above)."""
    import signal
    import time

    t0 = time.monotonic()
    if _answers(endpoints, STALL_NOTE):
        return
    pidfile = lab.config.state_dir / "drone.pid"
    threads = drone_threads(pidfile)
    if _answers(endpoints, STALL_RESTART - STALL_NOTE):
        DRONE_STALLS.append(f"{nodeid}: answered after {time.monotonic() - t0:.1f} s; {threads}")
        return
    try:
        pid = int(pidfile.read_text())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "drone":  # not a pid used again since
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    time.sleep(0.5)
    lab.up()  # starts the Drone that is no longer running
    if not _answers(endpoints, 10.0):
        pytest.fail(f"the lab's Drone gave no port config for {STALL_RESTART:.0f} s and not after a restart; {threads}")
    DRONE_STALLS.append(f"{nodeid}: no answer for {STALL_RESTART:.0f} s, Drone restarted; before: {threads}")


@pytest.fixture(scope="session")
def lab_handle():
    """The test lab, built once per session and removed at the end."""
    from ostinato_tcp.lab import Lab, LabConfig

    lab = Lab(LabConfig(**TEST_LAB))
    lab.up()
    yield lab
    lab.down()


@pytest.fixture
def lab(lab_handle, request):
    """Endpoints of the test lab in its default settings (restored after each test), its Drone
    answering."""
    from ostinato_tcp.lab import Lab

    base = lab_handle.config
    if Lab.from_state(base.prefix).config != base:
        Lab(base).up()
    endpoints = lab_handle.endpoints()
    wait_for_drone(endpoints, Lab.from_state(base.prefix), request.node.nodeid)
    yield endpoints
    if Lab.from_state(base.prefix).config != base:
        Lab(base).up()


@pytest.fixture
def relab(lab_handle):
    """Reconfigure the test lab for one test: ``relab(syn_recv_timeout=10)``; restored afterwards."""
    from ostinato_tcp.lab import Lab

    base = lab_handle.config

    def apply(**changes):
        return Lab(replace(base, **changes)).up()

    yield apply
    Lab(base).up()
