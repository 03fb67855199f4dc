"""The python-ostinato backend path, through a stand-in of its package layout
(tests/fixtures/fake_python_ostinato/README.md), against the lab's real Drone."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def test_run_through_the_python_ostinato_backend(scenario_file, lab, tmp_path):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 500, "traffic.rate": 500})
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "fixtures" / "fake_python_ostinato"),
               OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    out = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--lab", lab.prefix, "--drone-backend",
                          "python-ostinato", str(sc)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("PASS  500/500 ESTABLISHED+ASSURED")
    # a Drone error comes back as the project's error, naming Drone and the RPC
    code = ("from ostinato_tcp.drone import open_drone\n"
            "from ostinato_tcp.errors import DroneError\n"
            f"d = open_drone({lab.drone_a['host']!r}, {lab.drone_a['port']}, backend='python-ostinato')\n"
            "ids = d.pb.StreamIdList(); ids.port_id.id = 999; ids.stream_id.add().id = 1\n"
            "try:\n    d.addStream(ids)\nexcept DroneError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Drone {lab.drone_a['host']}:{lab.drone_a['port']}, addStream:"), out.stdout
