"""Shared fixtures. Lab tests run against a real lab of their own (prefix ``otcpt``; in make
test's parallel lab phase each pytest-xdist worker has one: ``otcpt``, ``otcpu``).

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
# The test labs, one per pytest-xdist worker of make test's parallel lab phase (scripts/test.sh):
# a worker's lab is its own, so tests on two workers share nothing but the host. A test that
# changes a host-wide setting or measures a rate is marked ``exclusive`` and runs in the serial
# phase, on the first lab, with no other test running.
LAB_SLOTS = (("otcpt", "198.18.1.0/24"), ("otcpu", "198.18.2.0/24"))


def lab_settings_for() -> dict:
    """The lab settings of this pytest process: gw<i> of pytest-xdist gets slot i, else slot 0."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slot = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if slot >= len(LAB_SLOTS):
        raise RuntimeError(f"lab tests on {slot + 1} xdist workers: at most {len(LAB_SLOTS)} (one lab each)")
    prefix, mgmt_net = LAB_SLOTS[slot]
    return dict(prefix=prefix, mgmt_net=mgmt_net, sudo_user=True)


TEST_LAB = lab_settings_for()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its Drone notes go to the controller, which prints them
        workeroutput["drone_stalls"] = list(DRONE_STALLS)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for line in DRONE_STALLS:
        reporter.write_line(f"lab Drone: {line}", yellow=True)
    skipped_lab = [r for r in reporter.stats.get("skipped", []) if "tests/lab/" in str(r.nodeid)]
    if skipped_lab and exitstatus == 0:
        reporter.write_line(f"FAIL: {len(skipped_lab)} lab test(s) were skipped; lab tests must run", red=True)
        session.exitstatus = 1


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """An xdist worker finished: keep its lab Drone notes for the end of the session."""
    DRONE_STALLS.extend(getattr(node, "workeroutput", {}).get("drone_stalls", []))


# Drone 1.2 (Debian 12) can deadlock a port's capture thread on any stopCapture: libpcap wakes the
# capture thread, which logs (and so allocates) while Drone's stop signal arrives, and the signal's
# handler logs too: it then waits for the allocator lock its own thread holds (seen with gdb on a
# wedged lab Drone). The RPC that stopped the capture holds the port's lock for ever, so every later
# RPC on that port waits; about one stop in a few thousand does this, roughly once a full run here.
# The device-emulation thread (EmulXcvr, woken by each ARP or ICMP packet) is stopped the same way
# when a port's last device group is deleted, and wedges the same way (a fresh clone's CI run).
# So: before a test on the shared lab starts, its Drone must answer getPortConfig (a wait longer
# than STALL_NOTE is printed at the end of the session with Drone's thread states; no answer after
# STALL_RESTART restarts it), and a lab test that failed while its lab's Drone (the shared lab's, or
# the module's own lab's: its PREFIX) sat in that deadlock runs once more after a restart (printed
# too). The tests keep every bound they had; any other failure stands.
STALL_NOTE, STALL_RESTART = 5.0, 25.0
DRONE_STALLS: list[str] = []


def drone_thread_rows(pidfile: Path) -> tuple[int, list[str]]:
    """Drone's pid and, per thread, ``name:state:wait channel`` (what it is blocked in), from /proc."""
    pid = int(pidfile.read_text())
    rows = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda t: int(t.name)):
        comm = (task / "comm").read_text().strip()
        state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        rows.append(f"{comm}:{state}:{(task / 'wchan').read_text().strip() or '-'}")
    return pid, rows


def _threads_line(pid: int, rows: list[str]) -> str:
    return f"pid {pid} threads " + ", ".join(rows)


def drone_threads(pidfile: Path) -> str:
    """What each of Drone's threads is blocked in, as one line for the session's notes."""
    try:
        return _threads_line(*drone_thread_rows(pidfile))
    except (OSError, ValueError) as exc:
        return f"threads not readable ({exc})"


def capture_deadlocked(pidfile: Path) -> str | None:
    """The thread states of a Drone in its capture deadlock (a pcap thread, Capture or EmulXcvr,
    blocked on a lock while an RPC thread sleeps in the stop's wait loop, still so 2 s later), else
    None."""
    import time

    def signature() -> str | None:
        try:
            pid, rows = drone_thread_rows(pidfile)
        except (OSError, ValueError):
            return None
        stuck = any(t.startswith(("Capture:", "EmulXcvr:")) and t.endswith(":futex_do_wait") for t in rows)
        waiting = any(t.startswith("RPC:") and t.endswith(":hrtimer_nanosleep") for t in rows)
        return _threads_line(pid, rows) if stuck and waiting else None

    if signature() is None:
        return None
    time.sleep(2.0)
    return signature()


def labs_of(item) -> list:
    """The built-in labs a lab test runs on: the shared test lab (the ``lab`` fixture) and a lab of
    the test module's own (its ``PREFIX``), as they were brought up."""
    from ostinato_tcp.lab import Lab, LabConfig
    from ostinato_tcp.lab._config import STATE_ROOT

    out = [Lab(LabConfig(**TEST_LAB))] if "lab" in getattr(item, "fixturenames", ()) else []
    own = getattr(getattr(item, "module", None), "PREFIX", None)
    if own and (STATE_ROOT / own / "drone.pid").exists():
        out.append(Lab.from_state(own))
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A lab test that failed while its lab's Drone (the shared lab's, or its module's own lab's)
    sat in its capture deadlock (see above) runs once more after Drone is restarted; the first
    attempt and the thread states are printed at the end of the session. Any other failure stands
    as it is."""
    if "tests/lab/" not in item.nodeid.replace(os.sep, "/"):
        return None
    from _pytest.runner import runtestprotocol

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if any(r.failed for r in reports):  # the labs are looked up now: a module's own lab is up by then
        wedged = [(lab, w) for lab in labs_of(item) if (w := capture_deadlocked(lab.config.state_dir / "drone.pid"))]
        for lab, w in wedged:
            restart_drone(lab)
            DRONE_STALLS.append(f"{item.nodeid}: failed with lab {lab.config.prefix}'s Drone in its capture "
                                f"deadlock ({w}); Drone restarted and the test run again")
        if wedged:
            item._initrequest()
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def restart_drone(lab) -> None:
    """Kill the lab's Drone (only a process named drone) and let ``lab up`` start it again."""
    import signal
    import time

    from ostinato_tcp.lab._sys import read_pid

    pid = read_pid(lab.config.state_dir / "drone.pid")
    try:
        if pid and Path(f"/proc/{pid}/comm").read_text().strip() == "drone":  # not a pid used again since
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    time.sleep(0.5)
    lab.up()  # starts the Drone that is no longer running


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
    import time

    t0 = time.monotonic()
    if _answers(endpoints, STALL_NOTE):
        return
    pidfile = lab.config.state_dir / "drone.pid"
    threads = drone_threads(pidfile)
    if _answers(endpoints, STALL_RESTART - STALL_NOTE):
        DRONE_STALLS.append(f"{nodeid}: answered after {time.monotonic() - t0:.1f} s; {threads}")
        return
    restart_drone(lab)
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
