"""Helpers for lab tests that drive the command line like a user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from ostinato_tcp.scenario import with_changes

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture
def ot(tmp_path, lab):
    """Run ``ostinato-tcp ARGS --lab <this worker's test lab>``; returns (exit code, stdout, stderr, report dict or None)."""
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "history.sqlite"))

    def run(*args, report: bool = True, timeout: float = 600, lab_arg: bool = True):
        extra = []
        rep = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
        if report and args and args[0] in ("run", "capacity"):
            extra += ["--report-json", str(rep)]
        if lab_arg and args and args[0] in ("run", "plan", "verify", "sweep", "cleanup", "capacity"):
            extra += ["--lab", lab.prefix]
        p = subprocess.run([sys.executable, "-m", "ostinato_tcp", *args, *extra], capture_output=True, text=True,
                           timeout=timeout, env=env)
        data = json.loads(rep.read_text()) if rep.exists() else None
        return p.returncode, p.stdout, p.stderr, data

    return run


@pytest.fixture
def scenario_file(tmp_path):
    """A copy of a shipped scenario with changes: scenario_file("lab-1000.yaml", **{"traffic.rate": 200})."""

    def make(base: str, **changes) -> Path:
        data = with_changes(yaml.safe_load((SCENARIOS / base).read_text()), changes)
        out = tmp_path / f"{data['name']}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        return out

    return make


def lab_drone(lab):
    """A client of the lab's (first) Drone."""
    from ostinato_tcp.drone import open_drone

    return open_drone(lab.drone_a["host"], lab.drone_a["port"])


def set_port(lab, name: str, **values) -> None:
    """Set port settings (user_name, transmit_mode) as another user of the Drone would."""
    with lab_drone(lab) as d:
        d.modify_port(d.find_port(name), **values)


def port_view(lab) -> dict:
    """What a user of the ports sees: streams, device groups, user name, mode, transmitting."""
    out = {}
    with lab_drone(lab) as d:
        for name in ("porta", "portb"):
            pid = d.find_port(name)
            cfg = d.port_config(pid)
            sids = d.getStreamIdList(d.pb.PortId(id=pid))
            streams = {s.stream_id.id: s for s in d.getStreamConfig(sids).stream} if sids.stream_id else {}
            gids = d.getDeviceGroupIdList(d.pb.PortId(id=pid))
            st = d.stats([pid])[pid]
            out[name] = {"streams": streams, "groups": sorted(g.id for g in gids.device_group_id),
                         "user_name": cfg.user_name, "mode": cfg.transmit_mode,
                         "transmitting": st.state.is_transmit_on, "tx": st.tx_pkts}
    return out


def drone_streams(lab, port: str) -> list[str]:
    from ostinato_tcp.drone import open_drone

    with open_drone(lab.drone_a["host"], lab.drone_a["port"]) as d:
        pid = d.find_port(port)
        ids = d.getStreamIdList(d.pb.PortId(id=pid))
        return [s.core.name for s in d.getStreamConfig(ids).stream] if ids.stream_id else []


def entries_in_test_space(lab, server: str = "10.2.2.100", port: int = 8080) -> int:
    out = subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-L", "-p", "tcp", "--orig-dst",
                          server, "--orig-port-dst", str(port)], capture_output=True, text=True)
    return len([line for line in out.stdout.splitlines() if line.strip()])


def clear_test_space(lab, server: str = "10.2.2.100", port: int = 8080) -> None:
    subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-D", "-p", "tcp", "--orig-dst", server,
                    "--orig-port-dst", str(port)], capture_output=True)


@contextmanager
def dut_nft_table(lab, family: str, name: str, chain: str, rules: str):
    """An nftables table of the test's own on the DUT (``chain``: the chain's name and its ``type ... ;``
    line, ``rules``: one rule per line), removed afterwards."""
    ns = lab.dut["namespace"]
    text = (f"table {family} {name} {{\n chain {chain}\n"
            + "".join(f"  {r.strip()}\n" for r in rules.strip().splitlines()) + " }\n}\n")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=text, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", family, name], check=True)


@pytest.fixture
def load_lab_scenario(lab):
    """A shipped scenario with changes, loaded against the test lab (for library-level tests)."""
    from ostinato_tcp.lab import read_endpoints
    from ostinato_tcp.scenario import scenario_from_data

    def make(base: str, **changes):
        data = with_changes(yaml.safe_load((SCENARIOS / base).read_text()), changes)
        return scenario_from_data(data, source=base, lab=lab.prefix, lab_reader=read_endpoints)

    return make


@contextmanager
def lab_started_apart(prefix: str, net: str, *options: str):
    """A lab started with the CLI, apart from the tool's fixtures, as a user's would be; yields
    its endpoints (``lab up --json``) and checks that ``lab down`` leaves none of its namespaces
    or routes."""
    up = subprocess.run([sys.executable, "-m", "ostinato_tcp", "lab", "up", "--prefix", prefix, "--mgmt-net", net,
                         *options, "--json"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    yield json.loads(up.stdout)
    down = subprocess.run([sys.executable, "-m", "ostinato_tcp", "lab", "down", "--prefix", prefix],
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if ns.startswith(prefix + "-")]
    assert net not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
