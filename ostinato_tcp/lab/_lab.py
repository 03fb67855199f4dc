"""The built-in lab: real Drone, a Linux conntrack DUT and sshd in network namespaces.

Topology (names for the default prefix ``ostcp``)::

    root namespace                 ostcp-tg (Drone)          ostcp-dut (the DUT)
    ostcp-tg-m  198.18.0.1/30 ---- mgmt 198.18.0.2/30
                                   porta (port A) ---------- dut-a 10.1.1.1/24
                                   portb (port B) ---------- dut-b 10.2.2.1/24
    ostcp-dut-m 198.18.0.5/30 ------------------------------ mgmt 198.18.0.6/30 (sshd)

With ``two_drones`` port B sits in a second traffic-generator namespace
``ostcp-tg2`` with its own Drone, reached over ``ostcp-tg2-m`` (198.18.0.9/30).

With ``jump_host`` an SSH bastion ``ostcp-jmp`` (sshd on 198.18.0.14, link
``ostcp-jmp-m``) has a link of its own to the DUT (``dutlink`` 198.18.0.17 ---
``jmp`` 198.18.0.18 in the DUT); the root namespace has no route to 198.18.0.18,
so only a hop through the bastion reaches the DUT's sshd there.

With ``dut_netns`` the DUT forwards in ``ostcp-dutin``, a namespace of its own:
``dut-a``/``dut-b``, the ruleset and the conntrack sysctls live there, and the DUT's
sshd (still in ``ostcp-dut``) reads conntrack with ``ip netns exec ostcp-dutin``.

Everything the lab makes is named from the prefix and listed in a state file
under ``/run/ostinato-tcp/<prefix>/``, so ``down`` can remove it all, also after
a half-failed ``up``. Test traffic never leaves the namespaces: the DUT has no
default route and drops anything forwarded to or from its management link.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

from ostinato_tcp.errors import LabError
from ostinato_tcp.lab import _ovs, _sshd
from ostinato_tcp.lab._links import ensure_links
from ostinato_tcp.lab._config import (DEFAULT_PREFIX, MAX_LAB_PAIRS, STATE_ROOT,
                      Endpoints,
                      LabConfig, _GLOBAL_SYSCTLS, _NS_SYSCTLS, endpoints_of, lab_file_data,
                      nft_ruleset)
from ostinato_tcp.lab._sys import (check_prerequisites, in_ns, kill_namespace_processes, list_namespaces, pid_alive, read_pid, run,
                   tcp_open, wait_drone, which)


class Lab:
    """Build, inspect and remove the lab for one prefix."""

    def __init__(self, config: LabConfig | None = None):
        self.config = config or LabConfig()
        self.config.validate()

    # State ---------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.config.state_dir / "lab.json"

    @classmethod
    def from_state(cls, prefix: str = DEFAULT_PREFIX) -> "Lab":
        """The lab of ``prefix`` as it was brought up (its recorded config)."""
        path = STATE_ROOT / prefix / "lab.json"
        if not path.exists():
            return cls(LabConfig(prefix=prefix))
        try:
            data = json.loads(path.read_text())
            return cls(LabConfig(**data["config"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"lab state file {path} is unreadable ({exc}); run 'ostinato-tcp lab down'") from None

    def _load_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    # Endpoints -----------------------------------------------------------
    def endpoints(self) -> Endpoints:
        return endpoints_of(self.config)

    # Status --------------------------------------------------------------
    def status(self) -> dict:
        """What exists of the lab now, checked live."""
        c = self.config
        existing = set(list_namespaces())
        eps = self.endpoints()
        ns_up = {ns: ns in existing for ns in c.namespaces()}
        drones = {}
        for key, ep in (("a", eps.drone_a), ("b", eps.drone_b)):
            drones[key] = tcp_open(ep["host"], ep["port"])
        sshd = tcp_open(eps.ssh["host"], 22) if c.dut != "none" else None  # None: the lab runs none
        up = all(ns_up.values()) and all(drones.values()) and sshd is not False
        return {"up": up, "namespaces": ns_up, "drone_listening": drones, "sshd_listening": sshd,
                "state_file": str(self.state_file) if self.state_file.exists() else None,
                "endpoints": eps.to_dict()}

    # Up ------------------------------------------------------------------
    def up(self) -> Endpoints:
        """Build the lab, or bring an existing one to this config. Idempotent."""
        check_prerequisites()
        c = self.config
        state = self._load_state()
        old = state.get("config")
        if old and any(old.get(k) != getattr(c, k)
                       for k in ("two_drones", "mgmt_net", "drone_port", "jump_host", "dut_netns", "pairs",
                                 "drone_per_pair")):
            # The shape or the addresses change: rebuild from scratch.
            Lab(LabConfig(**old)).down()
            state = {}
        state["config"] = asdict(c)
        state.setdefault("global_sysctls", {})
        state.setdefault("created", {})
        self._save_state(state)
        try:
            self._ensure_namespaces()
            self._ensure_links()
            self._configure_dut(state)
            if c.dut != "none":  # a DUT with no login (--dut none) runs no sshd
                _sshd.ensure_keys(self.config, self.endpoints())
                _sshd.ensure_sudo_user(self.config, state)
                _sshd.ensure_sshd(self.config, state, self.endpoints())
            self._ensure_drones()
        finally:
            self._save_state(state)
        self.write_lab_file()
        return self.endpoints()

    @property
    def lab_file(self) -> Path:
        return self.config.state_dir / "lab.yaml"

    def write_lab_file(self) -> Path:
        """A lab file (drones, ports, devices, DUT) for this lab: test profiles name it as
        ``lab_file:`` or ``--lab-file``, as they would a real lab's."""
        import yaml

        self.lab_file.write_text(f"# the built-in lab '{self.config.prefix}' as a lab file (written by 'ostinato-tcp "
                                 "lab up')\n" + yaml.safe_dump(lab_file_data(self.config, self.endpoints()),
                                                               sort_keys=False))
        return self.lab_file

    def _ensure_namespaces(self) -> None:
        existing = set(list_namespaces())
        for ns in self.config.namespaces():
            if ns not in existing:
                run(["ip", "netns", "add", ns])
            in_ns(ns, "ip", "link", "set", "lo", "up")
            # No IPv6 chatter (router solicitations, MLD) on the test wires.
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1")

    def _ensure_links(self) -> None:
        ensure_links(self.config)

    def nft_ruleset(self) -> str:
        return nft_ruleset(self.config)

    def _configure_dut(self, state: dict) -> None:
        c = self.config
        ns = c.ns_fwd
        in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        in_ns(ns, "nft", "-f", "-", input=self.nft_ruleset())
        for attr, key in _NS_SYSCTLS.items():
            value = getattr(c, attr)
            if value is None:
                value = _kernel_default(attr)
            in_ns(ns, "sysctl", "-qw", f"{key}={int(value)}")
        if c.dut == "ovs":
            _ovs.ensure_ovs(ns, c.state_dir, c.prefix, c.client_gateway, c.server_gateway, c.nat)
        saved = state["global_sysctls"]
        for attr, key in _GLOBAL_SYSCTLS.items():
            value = getattr(c, attr)
            if value is None:
                if key in saved:  # an earlier `up` changed it: put it back
                    run(["sysctl", "-qw", f"{key}={saved.pop(key)}"])
                continue
            if key not in saved:
                saved[key] = run(["sysctl", "-n", key]).stdout.strip()
            run(["sysctl", "-qw", f"{key}={value}"])

    def _ensure_drones(self) -> None:
        c = self.config
        eps = self.endpoints()
        todo = [("drone", c.ns_tg, eps.drone_a["host"])]
        if c.two_drones:
            todo.append(("drone2", c.ns_tg2, eps.drone_b["host"]))
        if c.drone_per_pair:
            todo += [(f"drone-p{p['pair']}", p["drone"]["namespace"], p["drone"]["host"]) for p in eps.pairs[1:]]
        procs = []
        for name, ns, host in todo:
            pidfile = c.state_dir / f"{name}.pid"
            if pid_alive(read_pid(pidfile)) and tcp_open(host, c.drone_port):
                continue
            log = c.state_dir / f"{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen([which("ip"), "netns", "exec", ns, which("drone"), "-p", str(c.drone_port)],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            pidfile.write_text(str(proc.pid))
            procs.append((proc, name, ns, host, log))
        for proc, name, ns, host, log in procs:
            wait_drone(host, c.drone_port, 30, f"Drone in {ns}", proc, log)

    # Down ----------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove everything the lab made. Safe to call twice or after a failed ``up``."""
        check_prerequisites()
        c = self.config
        state = self._load_state()
        removed: list[str] = []
        existing = set(list_namespaces())
        names = ([c.ns_tg, c.ns_tg2, c.ns_jmp, f"{c.prefix}-dutin", c.ns_dut]
                 + [f"{c.prefix}-p{i}" for i in range(2, MAX_LAB_PAIRS + 1)])
        for ns in names:
            if ns not in existing:
                continue
            kill_namespace_processes(ns)
            run(["ip", "netns", "del", ns])
            removed.append(f"namespace {ns}")
        for short in ("tg", "dut", "tg2", "jmp") + tuple(f"p{i}" for i in range(2, MAX_LAB_PAIRS + 1)):
            ifname = f"{c.prefix}-{short}-m"
            if run(["ip", "link", "show", ifname], check=False).returncode == 0:
                run(["ip", "link", "del", ifname], check=False)
                removed.append(f"link {ifname}")
        if run(["ip", "route", "show", "type", "unreachable", c.mgmt_net, "metric", "4242"],
               check=False).stdout.strip():
            run(["ip", "route", "del", "unreachable", c.mgmt_net, "metric", "4242"], check=False)
            removed.append(f"route unreachable {c.mgmt_net}")
        for key, value in state.get("global_sysctls", {}).items():
            run(["sysctl", "-qw", f"{key}={value}"], check=False)
            removed.append(f"restored {key}={value}")
        state.setdefault("created", {})
        removed += _sshd.remove_sudo_user(self.config, state)
        if c.state_dir.exists():
            shutil.rmtree(c.state_dir)
            removed.append(f"directory {c.state_dir}")
        if STATE_ROOT.exists():
            _sshd.remove_privsep_dir(state)  # after this lab's directory: other labs' sshds may still need it
        try:
            STATE_ROOT.rmdir()  # only when no other lab uses it
        except OSError:
            pass
        return removed



def read_endpoints(prefix: str) -> dict | None:
    """The endpoints of the running lab ``prefix`` (as ``lab up --json`` prints them), or None
    when it is not up. Handed to the scenario loader for ``lab:`` scenarios."""
    lab = Lab.from_state(prefix)
    return lab.endpoints().to_dict() if lab.state_file.exists() else None


def _kernel_default(attr: str) -> int:
    return {"tcp_loose": 0, "syn_sent_timeout": 120, "syn_recv_timeout": 60, "timestamps": 0}[attr]
