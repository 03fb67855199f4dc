"""The command line's conventions, one test each: --json and --report-json on every command that
reports, one history-database option, no bare --force, -q never changes the measurement, -v and
--debug after the command, help on every option, completion scripts, options from the environment,
--set validated like the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
import yaml

from ostinato_tcp.cli import cli

from .helpers import data

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]

REPORTING = ["run", "verify", "plan", "sweep", "history", "lab status", "lab up"]


def commands(group=cli, prefix=""):
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from commands(cmd, full + " ")
        else:
            yield full, cmd


def command(path: str) -> click.Command:
    return dict(commands())[path]


def ot(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def scenario_file(tmp_path, **changes):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data(**changes), sort_keys=False))
    return p


@pytest.mark.parametrize("path", REPORTING)
def test_every_reporting_command_has_json_and_report_json(path):
    opts = {o.name: o for o in command(path).params if isinstance(o, click.Option)}
    assert opts["json"].opts == ["--json"] and opts["report_json"].opts == ["--report-json"]
    assert opts["report_json"].type.allow_dash  # '-' is standard output


def test_plan_json_is_json_on_stdout_and_report_json_dash_too(tmp_path):
    p = scenario_file(tmp_path)
    for args in (("--json",), ("--report-json", "-")):
        out = ot("plan", "--offline", *args, str(p))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["pairs"][0]["mode"] == "pipelined"
    out = ot("plan", "--offline", "--report-json", str(tmp_path / "plan.json"), str(p))
    assert json.loads((tmp_path / "plan.json").read_text())["total"] == 1000 and "plan for" in out.stdout


def test_one_name_for_the_history_database():
    for path, cmd in commands():
        names = [o.opts for o in cmd.params if isinstance(o, click.Option) and "history" in o.name and "db" in o.name]
        for opts in names:
            assert opts == ["--history-db"], path
        for o in cmd.params:
            if isinstance(o, click.Option) and o.name == "history_db":
                assert o.envvar == "OSTINATO_TCP_HISTORY"
    assert {"run", "sweep", "history"} <= {p for p, c in commands() if any(o.name == "history_db" for o in c.params)}


def test_no_option_is_a_bare_force():
    for path, cmd in commands():
        for o in cmd.params:
            assert "--force" not in getattr(o, "opts", []), path


def test_every_option_has_help():
    for path, cmd in list(commands()) + [("", cli)]:
        for o in cmd.params:
            if isinstance(o, click.Option) and not o.hidden:
                assert o.help, f"{path} {o.opts}"


def test_quiet_changes_output_not_measurement(monkeypatch, tmp_path):
    import ostinato_tcp.jobs.sweep as S

    seen = []
    from ostinato_tcp.jobs.sweep_results import summarize

    monkeypatch.setattr(S, "run_sweep", lambda sweep, out, opts, events, restart, history: seen.append(opts) or
                        summarize([]))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(data()))
    sweep = tmp_path / "sw.yaml"
    sweep.write_text("name: sw\nbase: base.yaml\nrates: [100]\n")
    from click.testing import CliRunner

    for quiet in ([], ["-q"]):
        res = CliRunner().invoke(cli, ["sweep", str(sweep), "--out", str(tmp_path / "o"), "--no-history", *quiet])
        assert res.exit_code == 0, res.output
    assert seen[0] == seen[1]


def test_verbose_and_debug_after_the_command(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    before = ot("--debug", "plan", "--offline", str(bad))
    after = ot("plan", "--offline", str(bad), "--debug")
    assert before.returncode == after.returncode == 2
    assert "Traceback" in after.stderr and after.stderr.strip().splitlines()[-1] == before.stderr.strip().splitlines()[-1]
    assert ot("plan", "--offline", str(scenario_file(tmp_path)), "-vv").returncode == 0


@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nosort -F"), ("zsh", "#compdef ostinato-tcp"),
                                          ("fish", "complete --no-files --command ostinato-tcp")])
def test_completion_scripts(shell, marker):
    out = ot("completion", shell)
    assert out.returncode == 0 and marker in out.stdout and "_OSTINATO_TCP_COMPLETE" in out.stdout


def test_options_from_the_environment(tmp_path):
    p = scenario_file(tmp_path, **{"dut.host": "127.0.0.1", "dut.port": 1})
    env = dict(os.environ, OSTINATO_TCP_PLAN_OFFLINE="1", OSTINATO_TCP_PLAN_JSON="1")
    out = ot("plan", str(p), env=env)  # offline: the unreachable DUT is never asked
    assert out.returncode == 0 and json.loads(out.stdout)["total"] == 1000


def test_set_is_validated_like_the_file_and_names_the_option(tmp_path):
    p = scenario_file(tmp_path)
    out = ot("plan", "--offline", "--set", "connections.count=abc", str(p))
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("ostinato-tcp: error: --set connections.count=abc: connections.count: input should be a "
                           "valid integer")
    out = ot("plan", "--offline", "--json", "--set", "connections.count=300", "--set", "traffic.rate=50", str(p))
    assert json.loads(out.stdout)["total"] == 300 and json.loads(out.stdout)["pairs"][0]["rate"] == 50
    out = ot("plan", "--offline", "--set", "nonsense", str(p))
    assert out.returncode == 2 and "--set: not a dotted.key=value (got 'nonsense')" in out.stderr


def test_a_lab_file_and_a_profile(tmp_path):
    full = data()
    lab = {k: full.pop(k) for k in ("drones", "ports")}
    lab["dut"] = full.pop("dut")
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(lab, sort_keys=False))
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"lab_file": "lab.yaml", **full}, sort_keys=False))
    out = ot("plan", "--offline", "--json", str(profile))
    assert out.returncode == 0 and json.loads(out.stdout)["total"] == 1000
    # an error in the lab file names the lab file and its line
    lab["ports"]["a"]["device"]["prefix"] = 40
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(lab, sort_keys=False))
    out = ot("plan", "--offline", str(profile))
    assert out.returncode == 2 and f"{tmp_path / 'lab.yaml'}:" in out.stderr and "ports.a.device.prefix" in out.stderr
    # a lab file holds only the lab
    (tmp_path / "bad-lab.yaml").write_text("traffic: {rate: 5}\n")
    out = ot("plan", "--offline", "--lab-file", str(tmp_path / "bad-lab.yaml"), str(profile))
    assert out.returncode == 2 and "traffic: a lab file holds only drones, ports, dut, lab" in out.stderr


def test_the_exit_codes_are_written_once_and_shown_alike():
    from ostinato_tcp.errors import EXIT_CODES

    rows = [f"| {code} | {text} |" for code, text in EXIT_CODES.items()]
    for doc in (ROOT / "README.md", ROOT / "docs" / "errors.md"):
        text = doc.read_text()
        assert all(row in text for row in rows), doc
    for path, cmd in commands():
        assert "Exit codes:" in (cmd.epilog or ""), path
    out = ot("run", "--help")
    assert all(f"{code:>4}  {text}" in out.stdout for code, text in EXIT_CODES.items())


def test_a_closed_pipe_and_a_usage_error_end_quietly_in_one_line(tmp_path):
    # the reader is gone before the plan is printed: the write fails, the command stops quietly
    p = scenario_file(tmp_path)
    proc = subprocess.run(f"{sys.executable} -m ostinato_tcp plan --offline --json {p} | true; "
                          "echo rc=${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True)
    assert "rc=141" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr and proc.stderr == ""
    out = ot("run", "--no-such-option", str(p))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("ostinato-tcp: error: No such option '--no-such-option'") and "run --help" in out.stderr


def test_environment_variables_follow_the_options_and_never_widen_what_a_run_touches():
    from ostinato_tcp.cli._base import FLAG_ONLY

    for path, cmd in commands():
        for o in cmd.params:
            if not isinstance(o, click.Option) or o.name in ("help", "verbose", "debug"):
                continue
            if o.name in FLAG_ONLY:
                assert o.envvar is None and not o.allow_from_autoenv, (path, o.name)
            elif o.name != "history_db":  # the history database: OSTINATO_TCP_HISTORY, for every command
                long = max(o.opts, key=len).lstrip("-").upper().replace("-", "_")
                assert o.envvar.endswith(long) and o.show_envvar, (path, o.name, o.envvar)
    out = ot("run", "--help")
    assert "OSTINATO_TCP_RUN_DRONE_BACKEND" in out.stdout and "OSTINATO_TCP_RUN_SET" in out.stdout
    assert "OSTINATO_TCP_RUN_TAKE_OVER_PORTS" not in out.stdout and "ACCEPT_NEW_HOST_KEY" not in out.stdout
