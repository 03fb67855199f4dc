"""The README's quick start, word for word, as a user of their own lab runs it.

The commands are read out of README.md (between the quickstart markers) and run in a
fresh directory with a fresh virtual environment: ``pip install`` of a copy of the
checkout, in that copy (no make, no apt, not the project's .venv), then ``ports``,
``init``, the two edits (``$EDITOR`` here copies in the lab file of the test lab, which
was started apart from this install, as an existing lab is, and puts the lab's client and
server addresses into the profile), ``check``, ``plan`` and ``run``. Then, in the same install (no matplotlib), a sweep writes its CSV and JSON and
says how to get the plots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"
PLACEHOLDER_DRONE = "192.0.2.10"  # the README's (and the template's) documentation address
SKIP_COPY = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "bench-out",
                                   ".pytest_cache", ".hypothesis", "otcp")


# $EDITOR for the test: the lab file is the test lab's; the profile gets the lab's addresses
EDITOR = """#!{python}
import sys, yaml
path = sys.argv[1]
if path.endswith("lab.yaml"):
    text = open({lab_file!r}).read()
else:
    text = open(path).read()
    for key, value in {addresses!r}.items():
        text = text.replace(f"{{key}}: {{yaml.safe_load(text)['connections'][key]}} ", f"{{key}}: {{value}} ", 1)
open(path, "w").write(text)
"""


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    assert BEGIN in text and END in text, "README.md lacks the quickstart markers"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    lines = [line for line in block.strip().splitlines() if not line.startswith("```")]
    return [line.split("  #")[0].strip() for line in lines if line.strip()]


def test_readme_quick_start_in_a_fresh_venv(lab, tmp_path):
    cmds = quickstart_commands()
    assert cmds[0].startswith("python3 -m venv ") and "pip install ." in cmds
    assert [c.split()[1] for c in cmds if c.startswith("ostinato-tcp ")] == ["ports", "init", "check", "plan", "run"]
    assert [c.split()[1] for c in cmds if c.startswith("$EDITOR ")] == ["my-lab/lab.yaml", "my-lab/my-dut-10k.yaml"]
    checkout = tmp_path / "ostinato-tcp-checkout"  # any name: the commands run inside it
    shutil.copytree(ROOT, checkout, ignore=SKIP_COPY)
    # The edits a user makes by hand: their lab's values. The test lab's own lab file has them.
    addresses = {"client_ip": lab.pairs[0]["client_ip"], "server_ip": lab.pairs[0]["server_ip"]}
    editor = tmp_path / "edit"
    editor.write_text(EDITOR.format(python=sys.executable, lab_file=str(lab.lab_file), addresses=addresses))
    editor.chmod(0o755)
    script = "set -eux\n" + "\n".join(c.replace(PLACEHOLDER_DRONE, lab.drone_a["host"]) for c in cmds) + "\n"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
                                                            "OSTINATO_TCP_CHECK_SCHEMAS")}  # a user sets none of them
    env["PATH"] = ":".join(p for p in env.get("PATH", "/usr/bin:/bin").split(":") if ".venv" not in p)
    env.update(EDITOR=str(editor), OSTINATO_TCP_HISTORY=str(tmp_path / "history.sqlite"))
    p = subprocess.run(["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=900)
    out = p.stdout
    assert p.returncode == 0, out[-3000:] + p.stderr[-3000:]
    venv = checkout / "otcp"
    # the install is the fresh venv's, from the copy, not the project's .venv
    # (from outside the checkout: python -c puts the current directory first on the path)
    where = subprocess.run([venv / "bin" / "python", "-c", "import ostinato_tcp; print(ostinato_tcp.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True).stdout
    assert where.startswith(str(venv)), where
    assert re.search(r"^\s*\d+\s+porta\s+up\b", out, re.M) and re.search(r"^\s*\d+\s+portb\s+up\b", out, re.M), out
    assert "wrote my-lab/lab.yaml" in out and "wrote my-lab/my-dut-10k.yaml" in out
    assert "check my-dut-10k: ready to run" in out
    assert "PASS  10000/10000 ESTABLISHED+ASSURED  (my-dut-10k)" in out

    # A sweep in the same install, without matplotlib: CSV and JSON, and the hint for plots.
    assert subprocess.run([venv / "bin" / "python", "-c", "import matplotlib"], capture_output=True).returncode != 0
    (checkout / "sweep.yaml").write_text(yaml.safe_dump({"name": "fresh-sweep", "base": "my-lab/my-dut-10k.yaml",
                                                         "counts": [500], "rates": [1000]}))
    p = subprocess.run([venv / "bin" / "ostinato-tcp", "sweep", "sweep.yaml", "--out", "results"], cwd=checkout,
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert (checkout / "results" / "results.csv").exists() and (checkout / "results" / "results.json").exists()
    assert "pip install 'ostinato-tcp[plots]'" in p.stdout + p.stderr
    assert not list((checkout / "results").glob("*.png"))
