"""The wheel built from the checkout holds what an installed ostinato-tcp needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_protos_templates_typing_marker_licence_and_plugin(tmp_path):
    out = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                          str(ROOT)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = tmp_path.glob("ostinato_tcp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in ("ostinato_tcp/drone/_pb/ostproto.proto", "ostinato_tcp/drone/_pb/ostemul.proto",
                   "ostinato_tcp/drone/_pb/ostproto_pb2.py", "ostinato_tcp/templates/lab.yaml",
                   "ostinato_tcp/templates/profile.yaml", "ostinato_tcp/py.typed", "ostinato_tcp/pytest_plugin.py",
                   "ostinato_tcp/report/schemas/run.schema.json", "ostinato_tcp/report/schemas/sweep.schema.json"):
        assert member in names, member
    dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    # setuptools >= 68 puts it under licenses/, older ones (a fresh Debian 12 venv's) beside METADATA
    assert {f"{dist}/licenses/LICENSE", f"{dist}/LICENSE"} & names
    meta = zipfile.ZipFile(wheel).read(f"{dist}/METADATA").decode()
    assert "Requires-Dist: protobuf<8,>=3.20" in meta
    assert "Requires-Dist: matplotlib>=3.8; extra == \"plots\"" in meta  # not needed to run
    assert not any(line.startswith("Requires-Dist: matplotlib") and "extra" not in line for line in meta.splitlines())
    for classifier in ("Programming Language :: Python :: 3.10", "License :: OSI Approved :: MIT License",
                       "Development Status :: 4 - Beta"):
        assert f"Classifier: {classifier}" in meta, classifier
    assert "Requires-Python: >=3.10" in meta and "Project-URL: " in meta
    # the shipped scenarios travel in the wheel's data, where shipped_scenario finds them once installed
    data = f"{dist[:-len('.dist-info')]}.data/data/share/ostinato-tcp/scenarios"
    assert {f"{data}/lab-1000.yaml", f"{data}/sweeps/lab-sweep.yaml"} <= names, sorted(n for n in names if ".data/" in n)
    entry = zipfile.ZipFile(wheel).read(f"{dist}/entry_points.txt").decode()
    assert "ostinato-tcp = ostinato_tcp.cli:main" in entry and "ostinato_tcp = ostinato_tcp.pytest_plugin" in entry


def test_shipped_scenarios_are_found_and_a_wrong_name_lists_them():
    import pytest

    from ostinato_tcp import shipped_scenario

    p = shipped_scenario("lab-1000.yaml")
    assert p == ROOT / "scenarios" / "lab-1000.yaml"
    with pytest.raises(FileNotFoundError, match="lab-1000.yaml"):
        shipped_scenario("lab-1001.yaml")
    # a lab that is not up: its endpoints as its configuration would give them
    from ostinato_tcp.lab._lab import Lab
    from ostinato_tcp.scenario import load_scenario as load_with

    assert load_with(p, lab_reader=lambda prefix: Lab.from_state(prefix).endpoints().to_dict()).connections.count == 1000
    with pytest.raises(Exception, match="not up"):
        load_with(p, lab_reader=lambda prefix: None)
