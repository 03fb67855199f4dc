"""The layers, as setup.cfg writes them down (import-linter's contracts): imports flow down, no
import cycle between the modules of a package. A deliberate upward import, in a copy of the
package, breaks the rule: the test of the test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_imports_flow_down_the_layers_and_no_package_has_a_cycle():
    p = lint(ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Imports flow down the layers KEPT" in p.stdout
    assert "No import cycle between the modules of a package KEPT" in p.stdout


def test_an_upward_import_breaks_the_rule(tmp_path):
    shutil.copytree(ROOT / "ostinato_tcp", tmp_path / "ostinato_tcp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    plan = tmp_path / "ostinato_tcp" / "domain" / "plan.py"
    plan.write_text(plan.read_text() + "\nfrom ostinato_tcp.run.options import RunOptions  # noqa: E402,F401\n")
    p = lint(tmp_path)
    assert p.returncode != 0
    assert "Imports flow down the layers BROKEN" in p.stdout
    assert "ostinato_tcp.domain is not allowed to import ostinato_tcp.run" in p.stdout
    # and a cycle inside a package: the run's result importing the runner that fills it
    plan.write_text(plan.read_text().replace("from ostinato_tcp.run.options import RunOptions", "pass"))
    result = tmp_path / "ostinato_tcp" / "run" / "reports.py"
    result.write_text(result.read_text() + "\nfrom ostinato_tcp.run import runner  # noqa: E402,F401\n")
    p = lint(tmp_path)
    assert "No import cycle between the modules of a package BROKEN" in p.stdout, p.stdout


def test_no_module_over_450_lines_and_no_class_over_250():
    """Sizes that keep each module and class readable in one sitting (generated code aside)."""
    import ast

    big = []
    for path in (ROOT / "ostinato_tcp").rglob("*.py"):
        if "_pb" in path.parts:
            continue
        text = path.read_text()
        if text.count("\n") > 450:
            big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:
                big.append(f"{path.relative_to(ROOT)}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert big == []
