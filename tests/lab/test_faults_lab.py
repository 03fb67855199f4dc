"""Faults during a run, in the lab: signals, a dropped SSH connection, two runs on the same
ports, and what a run leaves of other people's things. After each fault the next run passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import lab_drone, port_view, set_port

FOREIGN_ID = 900


@pytest.fixture
def someone_elses_setup(lab):
    """Port A: an enabled stream of someone else and interleaved mode; port B: reserved by 'alice'."""
    with lab_drone(lab) as d:
        pid = d.find_port("porta")
        d.addStream(d.stream_id_list(pid, [FOREIGN_ID]))
        cfg = d.pb.StreamConfigList()
        cfg.port_id.id = pid
        s = cfg.stream.add()
        s.stream_id.id = FOREIGN_ID
        s.core.name, s.core.is_enabled, s.core.frame_len = "alices-stream", True, 128
        s.control.num_packets, s.control.packets_per_sec = 7, 3.0
        d.modifyStream(cfg)
    set_port(lab, "porta", transmit_mode=1)
    set_port(lab, "portb", user_name="alice")
    yield
    with lab_drone(lab) as d:
        d.deleteStream(d.stream_id_list(d.find_port("porta"), [FOREIGN_ID]))
    set_port(lab, "porta", transmit_mode=0)
    set_port(lab, "portb", user_name="")


def assert_someone_elses_setup_intact(view: dict) -> None:
    a, b = view["porta"], view["portb"]
    assert list(a["streams"]) == [FOREIGN_ID], "only the tool's streams are removed"
    s = a["streams"][FOREIGN_ID]
    assert (s.core.name, s.core.is_enabled, s.core.frame_len, s.control.num_packets, s.control.packets_per_sec) == \
        ("alices-stream", True, 128, 7, 3.0), "the foreign stream is back as it was (enabled)"
    assert a["groups"] == [] and b["groups"] == [] and list(b["streams"]) == []
    assert a["mode"] == 1, "interleaved mode restored"
    assert b["user_name"] == "alice" and a["user_name"] == "", "user names restored"


def start_run(lab, tmp_path, scenario, *extra) -> subprocess.Popen:
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    return subprocess.Popen([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--lab", lab.prefix, *extra,
                             str(scenario)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_until(cond, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before {what}: {out}{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_every_port_and_restores_what_it_changed(signum, lab, ot, scenario_file, tmp_path,
                                                               someone_elses_setup):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 3000, "traffic.rate": 600})
    report, junit = tmp_path / "stopped.json", tmp_path / "stopped.xml"
    proc = start_run(lab, tmp_path, sc, "--take-over-ports", "--report-json", str(report), "--junit", str(junit))

    def both_sending():
        v = port_view(lab)
        return v["porta"]["transmitting"] and v["portb"]["transmitting"]

    wait_until(both_sending, proc, 60, "both ports transmitted")  # B starts 2.5 s after A
    during = port_view(lab)
    assert during["porta"]["streams"][FOREIGN_ID].core.is_enabled is False  # taken over: disabled for the run
    assert during["porta"]["mode"] == 0 and during["portb"]["user_name"].startswith("ostinato-tcp run pid ")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, out + err
    assert f"stopped by {signal.Signals(signum).name}" in err and "Traceback" not in err
    # a scheduled job still gets its report: an error, with what was sent until then
    rep = json.loads(report.read_text())
    assert rep["verdict"] == "error" and rep["error"] == f"stopped by {signal.Signals(signum).name}"
    assert rep["plan"]["mode"] == "pipelined" and "<error" in junit.read_text()
    first = port_view(lab)
    time.sleep(1.5)  # Drone refreshes counters about once a second
    second = port_view(lab)
    time.sleep(1.5)
    third = port_view(lab)
    for name in ("porta", "portb"):
        assert not first[name]["transmitting"]
        assert second[name]["tx"] == third[name]["tx"], f"{name} still sends"
    assert_someone_elses_setup_intact(second)
    # the next run passes (taking the ports over again) and leaves them as they were
    rc, out, err, rep = ot("run", "--take-over-ports", str(scenario_file("lab-1000.yaml", **{
        "connections.count": 300, "traffic.rate": 300})))
    assert rc == 0, out + err
    assert any("--take-over-ports" in w for w in rep["warnings"])
    assert_someone_elses_setup_intact(port_view(lab))


def _dropping_conntrack(path: Path, flag: Path) -> Path:
    """A stand-in for the DUT's conntrack that kills its own SSH session when a dump (-L)
    after the traffic starts while ``flag`` exists ('once': the flag is removed; 'always':
    kept), then runs the real conntrack. The first -L after the flag is written is the run's
    read-back of the test's space before the first packet: it is let through. The
    connection really dies: the session's sshd process is killed."""
    count = path.with_suffix(".count")
    path.write_text(f"""#!/bin/sh
for a in "$@"; do
  if [ "$a" = "-L" ]; then n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; fi
  if [ "$a" = "-L" ] && [ -e {flag} ] && [ "$n" -ge 2 ]; then
    [ "$(cat {flag})" = once ] && rm -f {flag}
    p=$$
    while [ "$p" -gt 1 ]; do
      if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -9 "$p"; break; fi
      p=$(awk '{{print $4}}' /proc/$p/stat)
    done
    sleep 5
  fi
done
exec conntrack "$@"
""")
    path.chmod(0o755)
    return path


def test_ssh_dropped_while_dumping_is_retried_once(ot, scenario_file, tmp_path):
    flag = tmp_path / "drop"
    wrapper = _dropping_conntrack(tmp_path / "conntrack-drop", flag)
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 500, "traffic.rate": 500,
                                           "dut.conntrack": str(wrapper)})
    wrapper.with_suffix(".count").unlink(missing_ok=True)
    flag.write_text("once")
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert not flag.exists(), "the connection was dropped during the dump"
    assert rep["established_assured"] == 500
    assert any("SSH to the DUT dropped while reading it" in w for w in rep["warnings"])

    wrapper.with_suffix(".count").unlink(missing_ok=True)
    flag.write_text("always")
    junit = tmp_path / "j.xml"
    rc, out, err, rep = ot("run", "-q", "--junit", str(junit), str(sc))
    assert rc == 3, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "SSH dropped twice" in lines[0] and "Traceback" not in err, err
    # the traffic result is still reported
    assert out.startswith("ERROR  no verdict  (lab-1000)")
    assert "port A porta: sent 100" in out and "port B portb: sent 50" in out
    assert rep["verdict"] == "error" and "SSH dropped twice" in rep["error"]
    assert rep["ports"]["a"]["sent_packets"] >= 1000 and rep["ports"]["b"]["sent_packets"] >= 500
    assert "<error" in junit.read_text()
    flag.unlink()
    rc, out, err, rep = ot("run", str(sc))  # the next run passes
    assert rc == 0 and rep["established_assured"] == 500, out + err


def test_second_run_on_the_same_ports_is_refused_naming_the_owner(lab, ot, scenario_file, tmp_path):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 1000, "traffic.rate": 250})
    first = start_run(lab, tmp_path, sc)
    wait_until(lambda: port_view(lab)["porta"]["user_name"].startswith("ostinato-tcp run"), first, 30,
               "the first run tagged its ports")
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 2, out + err
    assert f"is in use by ostinato-tcp run pid {first.pid} on " in err and "(scenario lab-1000)" in err
    assert rep is None
    # --take-over-ports does not take a port from a live run: its streams are left alone
    rc, out, err, rep = ot("run", "--take-over-ports", str(sc))
    assert rc == 2, out + err
    assert f"is in use by ostinato-tcp run pid {first.pid} on " in err and "never takes a port" in err
    assert rep is None
    rc, out, err, _ = ot("cleanup", str(sc))  # nor may cleanup delete the live run's streams
    assert rc == 2 and f"in use by ostinato-tcp run pid {first.pid}" in err, out + err
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, out1 + err1  # the refused run did not disturb the first one
    assert "PASS  1000/1000" in out1
    view = port_view(lab)
    assert view["porta"]["user_name"] == "" and view["portb"]["user_name"] == ""


def test_run_killed_hard_leaves_a_tag_the_next_run_takes_over(lab, ot, scenario_file, tmp_path):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 1000, "traffic.rate": 250})
    proc = start_run(lab, tmp_path, sc)
    wait_until(lambda: port_view(lab)["porta"]["transmitting"], proc, 30, "port A transmitted")
    proc.kill()  # SIGKILL: no cleanup at all
    proc.communicate()
    with lab_drone(lab) as d:  # stop what the dead run left sending (an operator would do this)
        d.stopTransmit(d.port_id_list([d.find_port("porta"), d.find_port("portb")]))
    rc, out, err, _ = ot("run", str(sc))
    assert rc == 2 and "left by an interrupted ostinato-tcp run (scenario lab-1000)" in err, out + err
    rc, out, err, _ = ot("cleanup", str(sc))
    assert rc == 0 and "stream(s) on porta" in out and "the tag of a run that is gone" in out, out + err
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    view = port_view(lab)
    assert view["porta"]["user_name"] == "" and not view["porta"]["streams"]


def test_password_never_appears_in_output_reports_or_history(lab, tmp_path):
    """Password login (the lab's sudo user) with debug logging and every report on."""
    import yaml

    from .test_bad_inputs_lab import base_scenario

    password = Path(lab.ssh["sudo_user_password_file"]).read_text().strip()
    data = base_scenario(lab)
    data["name"] = "password-login"
    data["dut"] = {"host": lab.ssh["host"], "user": lab.ssh["sudo_user"], "sudo": True, "password_env": "OT_DUT_PW",
                   "known_hosts": lab.ssh["known_hosts"], "ssh_config": False}  # no key: the password is the way in
    sc = tmp_path / "password-login.yaml"
    sc.write_text(yaml.safe_dump(data, sort_keys=False))
    sshd_log = Path(f"/run/ostinato-tcp/{lab.prefix}/sshd.log")
    log_before = sshd_log.read_text()
    history = tmp_path / "h.sqlite"
    env = dict(os.environ, OT_DUT_PW=password, OSTINATO_TCP_HISTORY=str(history))
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "--debug", "run", "--report-json", str(report),
                        "--junit", str(junit), str(sc)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"Accepted password for {lab.ssh['sudo_user']}" in sshd_log.read_text()[len(log_before):]
    assert "DEBUG" in p.stderr  # debug logging was on
    assert json.loads(report.read_text())["scenario"]["dut"]["password_env"] == "OT_DUT_PW"
    for where, blob in (("stdout", p.stdout.encode()), ("stderr", p.stderr.encode()), ("report", report.read_bytes()),
                        ("junit", junit.read_bytes()), ("history", history.read_bytes()),
                        ("scenario", sc.read_bytes())):
        assert password.encode() not in blob, f"the password appears in {where}"
