"""A port's TCP frames are counted exactly even when the host puts frames of its own on the
port during the run: Drone's tx counters then hold three sizes (the run's, ARP, the host's),
which the counters alone cannot split, and Drone's captures, which saw every frame of the
run's program, give the count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def inject(namespace: str, interface: str, frames: int, every: float) -> subprocess.Popen:
    """Frames of 70 bytes (a size the run does not use) out of ``interface`` in ``namespace``,
    as a host's own router solicitations would be; broadcast, inside the lab's links."""
    code = textwrap.dedent(f"""
        import socket, time
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(({interface!r}, 0))
        frame = b"\\xff" * 6 + b"\\x02\\x00\\x00\\x00\\x00\\x99" + b"\\x88\\xb5" + bytes(56)  # local experimental type
        for _ in range({frames}):
            s.send(frame)
            time.sleep({every})
    """)
    return subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", code])


def test_frames_of_the_host_on_a_port_do_not_make_the_count_an_estimate(lab, scenario_file, tmp_path):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 3000, "traffic.rate": 1000})
    report = tmp_path / "r.json"
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    proc = subprocess.Popen([sys.executable, "-m", "ostinato_tcp", "run", "--lab", lab.prefix, "--report-json",
                             str(report), str(sc)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "send: batch 1" in line:
            break
    noise = inject(lab.drone_a["namespace"], lab.drone_a["port_name"],
                   frames=5, every=0.2)
    noise.wait(timeout=30)
    out, _ = proc.communicate(timeout=300)
    out = "".join(seen) + out
    rep = json.loads(report.read_text())
    a = rep["ports"]["a"]
    assert proc.returncode == 0, out
    # 5 frames of 70 bytes on top of 6000 TCP frames and ARP: the size split alone is no longer exact
    assert a["other_frames"] >= 5 and a["frames_exact"] and a["counted_by"] == "capture", (json.dumps(a), out)
    assert a["sent_packets"] == a["expected_packets"] == 6000 and a["captured_packets"] == 6000
    assert "port A porta: sent 6000/6000 packets" in out and "counted by Drone's capture" in out, out
    assert rep["ports"]["b"]["counted_by"] == "counters"  # nothing extra on port B: its split is exact
