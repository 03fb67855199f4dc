"""Host helpers of the built-in lab: commands (in namespaces), processes, ports, prerequisites."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ostinato_tcp.errors import LabError

REQUIRED_PROGRAMS = {
    "ip": "iproute2",
    "nft": "nftables",
    "drone": "ostinato",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "conntrack": "conntrack",
}


def run(args: list[str], *, check: bool = True, input: str | None = None,
         timeout: float = 30, env: dict | None = None) -> subprocess.CompletedProcess:
    args = [which(args[0]), *args[1:]]  # /usr/sbin may be missing from a non-login PATH
    try:
        proc = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout, env=env)
    except FileNotFoundError:
        raise LabError(f"program {args[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"'{' '.join(args)}' did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"'{' '.join(args)}' failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc


def in_ns(ns: str, *args: str, check: bool = True, input: str | None = None,
          env: dict | None = None) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", ns, which(args[0]), *args[1:]], check=check, input=input, env=env)


def wait_tcp(host: str, port: int, timeout: float, what: str, proc: subprocess.Popen | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log and log.exists() else []
            raise LabError(f"{what} exited with code {proc.returncode} before listening on "
                           f"{host}:{port}" + (f": {' / '.join(tail)}" if tail else ""))
        if time.monotonic() > deadline:
            raise LabError(f"{what} is not listening on {host}:{port} after {timeout:g} s")
        time.sleep(0.2)


def wait_drone(host: str, port: int, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    """Wait until the Drone we started answers a version check (not just any listener)."""
    from ostinato_tcp.drone._client import DroneClient
    from ostinato_tcp.errors import DroneError

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise LabError(f"{what} exited with code {proc.returncode}"
                           + (f": {' / '.join(tail)}" if tail else ""))
        if tcp_open(host, port):
            try:
                DroneClient(host, port, timeout=2, connect_timeout=1).connect().disconnect()
            except DroneError as exc:
                last = str(exc)
            else:
                time.sleep(0.3)  # a second look: the process we started is the one answering
                if proc.poll() is None:
                    return
        time.sleep(0.2)
    raise LabError(f"{what} did not answer a version check on {host}:{port} within {timeout:g} s ({last}); "
                   f"see {log}")


def check_prerequisites() -> None:
    """Raise LabError with a one-line hint when the lab cannot be built here."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, Drone, sshd): run as root or with sudo")
    missing = [f"{prog} (Debian package {pkg})" for prog, pkg in REQUIRED_PROGRAMS.items()
               if "/" not in which(prog)]
    if missing:
        raise LabError("missing program(s): " + ", ".join(missing) + "; run 'make deps' to install them")


def which(prog: str) -> str:
    if "/" in prog:
        return prog
    found = shutil.which(prog)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/bin"):
        if os.path.exists(f"{d}/{prog}"):
            return f"{d}/{prog}"
    return prog



def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def kill_namespace_processes(ns: str) -> None:
    pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if pid_alive(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            return


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def veth(a: str, a_ns: str | None, b: str, b_ns: str) -> None:
    """Create veth a<->b unless it exists; a in a_ns (None = root), b in b_ns."""
    exists = run(["ip", "-n", a_ns, "link", "show", a] if a_ns else ["ip", "link", "show", a],
                  check=False).returncode == 0
    if not exists:
        if a_ns:
            run(["ip", "-n", a_ns, "link", "add", a, "type", "veth", "peer", "name", b, "netns", b_ns])
        else:
            run(["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", b_ns])
