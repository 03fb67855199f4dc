"""The command line: one-line errors and exit codes, offline commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from .helpers import data

ROOT = Path(__file__).resolve().parents[2]


def ot(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def write(tmp_path, d, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


def test_bad_scenario_is_one_line_and_exit_2(tmp_path):
    p = write(tmp_path, data(**{"traffic.rate": -5}))
    for cmd in ("run", "plan", "verify"):
        out = ot(cmd, str(p))
        assert out.returncode == 2, (cmd, out.stderr)
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and "traffic.rate: input should be greater than 0 (got -5)" in err[0]
        assert "Traceback" not in out.stderr


def test_plan_offline_and_refusal(tmp_path):
    out = ot("plan", "--offline", str(write(tmp_path, data())))
    assert out.returncode == 0
    assert "delay: 5.000 s" in out.stdout
    out = ot("plan", "--offline", str(write(tmp_path, data(**{"traffic.delay": 30}))))
    assert out.returncode == 2
    assert "REFUSED: traffic.delay 30 s is not below batch size/rate = 10 s" in out.stdout
    out = ot("plan", "--offline", "--exit-zero", str(write(tmp_path, data(**{"traffic.delay": 30}))))
    assert out.returncode == 0
    out = ot("plan", "--offline", "--json", str(write(tmp_path, data())))
    assert '"mode": "pipelined"' in out.stdout


def test_unreachable_dut_is_exit_3_with_one_line(tmp_path):
    d = data(**{"dut.host": "127.0.0.1", "dut.port": 1, "dut.known_hosts": str(tmp_path / "kh")})
    (tmp_path / "kh").write_text("")
    out = ot("run", "--no-history", "-q", str(write(tmp_path, d)))
    assert out.returncode == 3
    assert "cannot connect to root@127.0.0.1:1" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_verify_offline_dump(tmp_path):
    dump = tmp_path / "dump.txt"
    lines = [f"tcp      6 431999 ESTABLISHED src=10.1.1.100 dst=10.2.2.100 sport={p} dport=8080 src=10.2.2.100 "
             f"dst=10.1.1.100 sport=8080 dport={p} [ASSURED] mark=0 use=1" for p in range(23420, 24420)]
    dump.write_text("\n".join(lines) + "\n")
    out = ot("verify", "--dump", str(dump), str(write(tmp_path, data())))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("PASS  1000/1000 ESTABLISHED+ASSURED")
    dump.write_text("\n".join(lines[:-3]).replace("ESTABLISHED", "SYN_RECV", 1) + "\n")
    out = ot("verify", "--dump", str(dump), "--report-json", str(tmp_path / "v.json"), str(write(tmp_path, data())))
    assert out.returncode == 1
    assert "FAIL  996/1000" in out.stdout
    assert "3 connection(s) have no conntrack entry" in out.stdout
    assert '"syn_recv": 1' in (tmp_path / "v.json").read_text()


def test_history_cli(tmp_path):
    env = {"OSTINATO_TCP_HISTORY": str(tmp_path / "h.sqlite"), "PATH": "/usr/bin:/bin"}
    out = ot("history", env=env)
    assert out.returncode == 0 and "no runs recorded" in out.stdout


def test_public_api_is_exactly_this():
    import ostinato_tcp

    assert sorted(ostinato_tcp.__all__) == ostinato_tcp.__all__
    assert set(ostinato_tcp.__all__) == {
        "CapacityError", "CapacityReport", "DroneError", "DutError", "Expected", "InfrastructureError", "Interrupted", "LabError",
        "OstinatoTcpError", "Plan", "PlanError", "RunEvents", "RunOptions", "RunResult", "Scenario", "ScenarioError",
        "UsageError", "Verdict", "VerifyOutcome", "load_scenario", "make_plan", "probe_capacity", "result_to_dict", "run_scenario",
        "scenario_from_data", "shipped_scenario", "stop_on_signals", "verify_dump_file", "verify_live"}
    for name in ostinato_tcp.__all__:
        assert getattr(ostinato_tcp, name) is not None


def test_debug_adds_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    plain = subprocess.run([sys.executable, "-m", "ostinato_tcp", "plan", "--offline", str(bad)],
                           capture_output=True, text=True)
    debug = subprocess.run([sys.executable, "-m", "ostinato_tcp", "--debug", "plan", "--offline", str(bad)],
                           capture_output=True, text=True)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    assert "Traceback" in debug.stderr and "ScenarioError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()


def test_docs_api_shows_the_example_files_as_they_are():
    api = (ROOT / "docs" / "api.md").read_text()
    for name in ("api_example.py", "test_conntrack_example.py"):
        assert (ROOT / "docs" / "examples" / name).read_text().rstrip() in api, name


def test_ports_takes_a_bracketed_ipv6_drone_and_names_a_bad_one():
    r = ot("ports", "[fd00::1]:notaport")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "DRONE: '[fd00::1]:notaport': port 'notaport'" in r.stderr


def test_history_cli_lists_a_run_proven_by_traffic_only(tmp_path):
    from ostinato_tcp.report.history import History

    db = tmp_path / "h.sqlite"
    with History.open(db) as h:
        h.record({"scenario_name": "blackbox", "started_at": "2026-12-04T00:00:00Z", "verdict": "pass",
                  "expected": 200, "established_assured": None, "traffic_proof": {"carried_both_ways": 200}})
    out = ot("history", env={"OSTINATO_TCP_HISTORY": str(db), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if "blackbox" in x and "/200" in x)
    assert "200c/200" in line and "carried both ways, a run proven by traffic only" in out.stdout, out.stdout
