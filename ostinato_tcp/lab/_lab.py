"""The built-in lab: real Drone, a Linux conntrack DUT and sshd in network namespaces.

Topology (names for the default prefix ``ostcp``)::

    root namespace                 ostcp-tg (Drone)          ostcp-dut (the DUT)
    ostcp-tg-m  198.18.0.1/30 ---- mgmt 198.18.0.2/30
                                   porta (port A) ---------- dut-a 10.1.1.1/24
                                   portb (port B) ---------- dut-b 10.2.2.1/24
    ostcp-dut-m 198.18.0.5/30 ------------------------------ mgmt 198.18.0.6/30 (sshd)

With ``two_drones`` port B sits in a second traffic-generator namespace
``ostcp-tg2`` with its own Drone, reached over ``ostcp-tg2-m`` (198.18.0.9/30).

Everything the lab makes is named from the prefix and listed in a state file
under ``/run/ostinato-tcp/<prefix>/``, so ``down`` can remove it all, also after
a half-failed ``up``. Test traffic never leaves the namespaces: the DUT has no
default route and drops anything forwarded to or from its management link.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import LabError

STATE_ROOT = Path("/run/ostinato-tcp")
DEFAULT_PREFIX = "ostcp"

REQUIRED_PROGRAMS = {
    "ip": "iproute2",
    "nft": "nftables",
    "drone": "ostinato",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "conntrack": "conntrack",
}

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_NAT_RE = re.compile(r"^(masquerade|snat:\d{1,3}(\.\d{1,3}){3})$")

PORT_A = "porta"
PORT_B = "portb"
DUT_A = "dut-a"
DUT_B = "dut-b"
MGMT = "mgmt"
NFT_TABLE = "ostinato_tcp_lab"
NFT_NAT_TABLE = "ostinato_tcp_lab_nat"

# Sysctls of the DUT namespace the lab config may set, by config attribute.
_NS_SYSCTLS = {
    "tcp_loose": "net.netfilter.nf_conntrack_tcp_loose",
    "syn_sent_timeout": "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
    "syn_recv_timeout": "net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
}
# Sysctls that only the initial namespace may write: they are global to the host,
# so the lab records the old value and puts it back on ``down``.
_GLOBAL_SYSCTLS = {
    "conntrack_max": "net.netfilter.nf_conntrack_max",
    "conntrack_buckets": "net.netfilter.nf_conntrack_buckets",
}


@dataclass(frozen=True)
class LabConfig:
    prefix: str = DEFAULT_PREFIX
    mgmt_net: str = "198.18.0.0/24"
    drone_port: int = 7878
    two_drones: bool = False
    client_gateway: str = "10.1.1.1/24"
    server_gateway: str = "10.2.2.1/24"
    tcp_loose: int = 0
    syn_sent_timeout: int | None = None
    syn_recv_timeout: int | None = None
    conntrack_max: int | None = None
    conntrack_buckets: int | None = None
    nat: str | None = None
    sudo_user: bool = False

    def validate(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise LabError(f"lab prefix {self.prefix!r}: use 1-8 lower-case letters or digits, "
                           "starting with a letter")
        try:
            net = ipaddress.IPv4Network(self.mgmt_net)
        except ValueError as exc:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: {exc}") from None
        if net.prefixlen > 28:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: needs at least a /28")
        for name in ("client_gateway", "server_gateway"):
            try:
                ipaddress.IPv4Interface(getattr(self, name))
            except ValueError:
                raise LabError(f"lab {name} {getattr(self, name)!r}: not an IPv4 address/prefix") from None
        if self.tcp_loose not in (0, 1):
            raise LabError(f"lab tcp_loose {self.tcp_loose!r}: must be 0 or 1")
        for name in ("syn_sent_timeout", "syn_recv_timeout", "conntrack_max", "conntrack_buckets"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise LabError(f"lab {name} {v!r}: must be a positive integer")
        if not 1 <= self.drone_port <= 65535:
            raise LabError(f"lab drone_port {self.drone_port!r}: not a TCP port")
        if self.nat is not None and not _NAT_RE.match(self.nat):
            raise LabError(f"lab nat {self.nat!r}: use 'masquerade' or 'snat:A.B.C.D'")

    # Derived names -------------------------------------------------------
    @property
    def ns_tg(self) -> str:
        return f"{self.prefix}-tg"

    @property
    def ns_tg2(self) -> str:
        return f"{self.prefix}-tg2"

    @property
    def ns_dut(self) -> str:
        return f"{self.prefix}-dut"

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.prefix

    @property
    def sudo_user_name(self) -> str:
        return f"{self.prefix}-op"

    @property
    def plain_user_name(self) -> str:
        """A second test user: no sudo, for the 'not root and no sudo' refusals."""
        return f"{self.prefix}-ro"

    def mgmt_pair(self, index: int) -> tuple[str, str]:
        """Root-side and namespace-side address of management link ``index``."""
        net = ipaddress.IPv4Network(self.mgmt_net)
        sub = list(net.subnets(new_prefix=30))[index]
        hosts = list(sub.hosts())
        return f"{hosts[0]}/30", f"{hosts[1]}/30"

    def namespaces(self) -> list[str]:
        return [self.ns_tg, self.ns_dut] + ([self.ns_tg2] if self.two_drones else [])


@dataclass
class Endpoints:
    """How to reach the lab: what ``lab up --json`` prints."""

    prefix: str
    drone_a: dict
    drone_b: dict
    ssh: dict
    dut: dict
    namespaces: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _run(args: list[str], *, check: bool = True, input: str | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess:
    args = [_which(args[0]), *args[1:]]  # /usr/sbin may be missing from a non-login PATH
    try:
        proc = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"program {args[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"'{' '.join(args)}' did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"'{' '.join(args)}' failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc


def _ns(ns: str, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return _run(["ip", "netns", "exec", ns, _which(args[0]), *args[1:]], check=check, input=input)


def _wait_tcp(host: str, port: int, timeout: float, what: str, proc: subprocess.Popen | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log and log.exists() else []
            raise LabError(f"{what} exited with code {proc.returncode} before listening on "
                           f"{host}:{port}" + (f": {' / '.join(tail)}" if tail else ""))
        if time.monotonic() > deadline:
            raise LabError(f"{what} is not listening on {host}:{port} after {timeout:g} s")
        time.sleep(0.2)


def _wait_drone(host: str, port: int, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    """Wait until the Drone we started answers a version check (not just any listener)."""
    from ..drone._client import DroneClient
    from ..errors import DroneError

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise LabError(f"{what} exited with code {proc.returncode}"
                           + (f": {' / '.join(tail)}" if tail else ""))
        if _tcp_open(host, port):
            try:
                DroneClient(host, port, timeout=2, connect_timeout=1).connect().disconnect()
            except DroneError as exc:
                last = str(exc)
            else:
                time.sleep(0.3)  # a second look: the process we started is the one answering
                if proc.poll() is None:
                    return
        time.sleep(0.2)
    raise LabError(f"{what} did not answer a version check on {host}:{port} within {timeout:g} s ({last}); "
                   f"see {log}")


def check_prerequisites() -> None:
    """Raise LabError with a one-line hint when the lab cannot be built here."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, Drone, sshd): run as root or with sudo")
    missing = [f"{prog} (Debian package {pkg})" for prog, pkg in REQUIRED_PROGRAMS.items()
               if "/" not in _which(prog)]
    if missing:
        raise LabError("missing program(s): " + ", ".join(missing) + "; run 'make deps' to install them")


def _which(prog: str) -> str:
    if "/" in prog:
        return prog
    found = shutil.which(prog)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/bin"):
        if os.path.exists(f"{d}/{prog}"):
            return f"{d}/{prog}"
    return prog


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
        c = self.config
        sd = c.state_dir
        drone_a_host = c.mgmt_pair(0)[1].split("/")[0]
        drone_b_host = c.mgmt_pair(2)[1].split("/")[0] if c.two_drones else drone_a_host
        ssh_host = c.mgmt_pair(1)[1].split("/")[0]
        return Endpoints(
            prefix=c.prefix,
            drone_a={"host": drone_a_host, "port": c.drone_port, "port_name": PORT_A,
                     "namespace": c.ns_tg},
            drone_b={"host": drone_b_host, "port": c.drone_port, "port_name": PORT_B,
                     "namespace": c.ns_tg2 if c.two_drones else c.ns_tg},
            ssh={"host": ssh_host, "port": 22, "user": "root", "key_file": str(sd / "id_ed25519"),
                 "known_hosts": str(sd / "known_hosts"),
                 "sudo_user": c.sudo_user_name if c.sudo_user else None,
                 "plain_user": c.plain_user_name if c.sudo_user else None,
                 "sudo_user_password_file": str(sd / "sudo-user-password") if c.sudo_user else None},
            dut={"namespace": c.ns_dut, "client_gateway": c.client_gateway,
                 "server_gateway": c.server_gateway, "client_interface": DUT_A,
                 "server_interface": DUT_B, "nat": c.nat, "tcp_loose": c.tcp_loose,
                 "conntrack_max": c.conntrack_max, "syn_sent_timeout": c.syn_sent_timeout,
                 "syn_recv_timeout": c.syn_recv_timeout},
            namespaces=c.namespaces(),
        )

    # Status --------------------------------------------------------------
    def status(self) -> dict:
        """What exists of the lab now, checked live."""
        c = self.config
        existing = set(list_namespaces())
        eps = self.endpoints()
        ns_up = {ns: ns in existing for ns in c.namespaces()}
        drones = {}
        for key, ep in (("a", eps.drone_a), ("b", eps.drone_b)):
            drones[key] = _tcp_open(ep["host"], ep["port"])
        sshd = _tcp_open(eps.ssh["host"], 22)
        up = all(ns_up.values()) and all(drones.values()) and sshd
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
        if old and (old.get("two_drones") != c.two_drones or old.get("mgmt_net") != c.mgmt_net
                    or old.get("drone_port") != c.drone_port):
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
            self._ensure_keys()
            self._ensure_sudo_user(state)
            self._ensure_sshd(state)
            self._ensure_drones()
        finally:
            self._save_state(state)
        return self.endpoints()

    def _ensure_namespaces(self) -> None:
        existing = set(list_namespaces())
        for ns in self.config.namespaces():
            if ns not in existing:
                _run(["ip", "netns", "add", ns])
            _ns(ns, "ip", "link", "set", "lo", "up")
            # No IPv6 chatter (router solicitations, MLD) on the test wires.
            _ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1")

    def _veth(self, a: str, a_ns: str | None, b: str, b_ns: str) -> None:
        """Create veth a<->b unless it exists; a in a_ns (None = root), b in b_ns."""
        exists = _run(["ip", "-n", a_ns, "link", "show", a] if a_ns else ["ip", "link", "show", a],
                      check=False).returncode == 0
        if not exists:
            if a_ns:
                _run(["ip", "-n", a_ns, "link", "add", a, "type", "veth", "peer", "name", b, "netns", b_ns])
            else:
                _run(["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", b_ns])

    def _ensure_links(self) -> None:
        c = self.config
        tg_b = c.ns_tg2 if c.two_drones else c.ns_tg
        # Test wires: port A/B of the traffic generator(s) to the DUT.
        self._veth(DUT_A, c.ns_dut, PORT_A, c.ns_tg)
        self._veth(DUT_B, c.ns_dut, PORT_B, tg_b)
        for ns, ifname in ((c.ns_tg, PORT_A), (tg_b, PORT_B), (c.ns_dut, DUT_A), (c.ns_dut, DUT_B)):
            _ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", check=False)
            _ns(ns, "ip", "link", "set", ifname, "up")
        _ns(c.ns_dut, "ip", "addr", "replace", c.client_gateway, "dev", DUT_A)
        _ns(c.ns_dut, "ip", "addr", "replace", c.server_gateway, "dev", DUT_B)
        # Management links from the root namespace.
        mgmt = [(0, c.ns_tg, "tg"), (1, c.ns_dut, "dut")]
        if c.two_drones:
            mgmt.append((2, c.ns_tg2, "tg2"))
        for index, ns, short in mgmt:
            root_if = f"{c.prefix}-{short}-m"
            root_addr, ns_addr = c.mgmt_pair(index)
            self._veth(root_if, None, MGMT, ns)
            _run(["ip", "addr", "replace", root_addr, "dev", root_if])
            _run(["ip", "link", "set", root_if, "up"])
            _ns(ns, "ip", "addr", "replace", ns_addr, "dev", MGMT)
            _ns(ns, "ip", "link", "set", MGMT, "up")

    def nft_ruleset(self) -> str:
        c = self.config
        rules = f"""table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{MGMT}" counter drop
        oifname "{MGMT}" counter drop
        ct state invalid counter drop
        ct state established,related counter accept
        ct state new counter accept
    }}
}}
table ip {NFT_NAT_TABLE}
delete table ip {NFT_NAT_TABLE}
"""
        if c.nat:
            action = "masquerade" if c.nat == "masquerade" else f"snat to {c.nat.split(':', 1)[1]}"
            rules += f"""table ip {NFT_NAT_TABLE} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{DUT_B}" counter {action}
    }}
}}
"""
        return rules

    def _configure_dut(self, state: dict) -> None:
        c = self.config
        ns = c.ns_dut
        _ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _ns(ns, "nft", "-f", "-", input=self.nft_ruleset())
        for attr, key in _NS_SYSCTLS.items():
            value = getattr(c, attr)
            if value is None:
                value = _kernel_default(attr)
            _ns(ns, "sysctl", "-qw", f"{key}={value}")
        saved = state["global_sysctls"]
        for attr, key in _GLOBAL_SYSCTLS.items():
            value = getattr(c, attr)
            if value is None:
                if key in saved:  # an earlier `up` changed it: put it back
                    _run(["sysctl", "-qw", f"{key}={saved.pop(key)}"])
                continue
            if key not in saved:
                saved[key] = _run(["sysctl", "-n", key]).stdout.strip()
            _run(["sysctl", "-qw", f"{key}={value}"])

    def _ensure_keys(self) -> None:
        sd = self.config.state_dir
        sd.mkdir(parents=True, exist_ok=True)
        os.chmod(sd, 0o711)  # the sudo test user reads authorized_keys; private keys stay 0600
        for name in ("id_ed25519", "ssh_host_ed25519_key"):
            if not (sd / name).exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ostinato-tcp-lab-{name}",
                      "-f", str(sd / name)])
        (sd / "authorized_keys").write_text((sd / "id_ed25519.pub").read_text())
        host_pub = (sd / "ssh_host_ed25519_key.pub").read_text().split()
        ssh_host = self.endpoints().ssh["host"]
        (sd / "known_hosts").write_text(f"{ssh_host} {host_pub[0]} {host_pub[1]}\n")

    def _ensure_sudo_user(self, state: dict) -> None:
        c = self.config
        if not c.sudo_user:
            self._remove_sudo_user(state)
            return
        user = c.sudo_user_name
        if shutil.which("sudo") is None or not Path("/etc/sudoers.d").is_dir():
            raise LabError("the lab's sudo user needs sudo (Debian package sudo); run 'make deps'")
        if _run(["id", "-u", user], check=False).returncode != 0:
            _run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                  "--shell", "/bin/sh", user])
            state["created"]["user"] = user
        # The sudo user also logs in with a password (sshd allows it for this user only), so
        # that password authentication is tested; the password is in a root-only file.
        pw_file = c.state_dir / "sudo-user-password"
        if not pw_file.exists():
            pw_file.touch(mode=0o600)
            pw_file.write_text(secrets.token_urlsafe(18) + "\n")
        _run(["chpasswd"], input=f"{user}:{pw_file.read_text().strip()}\n")
        plain = c.plain_user_name
        if _run(["id", "-u", plain], check=False).returncode != 0:
            _run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                  "--shell", "/bin/sh", plain])
            state["created"]["plain_user"] = plain
        # '*' (no password) instead of useradd's '!' (locked): sshd refuses locked accounts
        # even for key logins when PAM is off.
        _run(["usermod", "-p", "*", plain])
        sudoers = Path(f"/etc/sudoers.d/{c.prefix}-op")
        sudoers.write_text(f"{user} ALL=(root) NOPASSWD: ALL\n")
        os.chmod(sudoers, 0o440)
        state["created"]["sudoers"] = str(sudoers)

    def _remove_sudo_user(self, state: dict) -> list[str]:
        removed = []
        sudoers = Path(f"/etc/sudoers.d/{self.config.prefix}-op")
        created = state.get("created", {})
        user = created.pop("user", None)
        if sudoers.exists():  # the lab's own user, also when the state file was lost
            sudoers.unlink()
            removed.append(f"file {sudoers}")
            user = user or self.config.sudo_user_name
        if user and _run(["id", "-u", user], check=False).returncode == 0:
            _run(["userdel", user], check=False)
            removed.append(f"user {user}")
        plain = created.pop("plain_user", None) or (self.config.plain_user_name if user else None)
        if plain and _run(["id", "-u", plain], check=False).returncode == 0:
            _run(["userdel", plain], check=False)
            removed.append(f"user {plain}")
        created.pop("sudoers", None)
        return removed

    def _sshd_config(self) -> str:
        c = self.config
        sd = c.state_dir
        host = self.endpoints().ssh["host"]
        return "\n".join([
            f"ListenAddress {host}",
            "Port 22",
            f"HostKey {sd / 'ssh_host_ed25519_key'}",
            f"PidFile {sd / 'sshd.pid'}",
            f"AuthorizedKeysFile {sd / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "X11Forwarding no",
            "PrintMotd no",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
        ] + ([f"Match User {c.sudo_user_name}", "    PasswordAuthentication yes"] if c.sudo_user else []) + [""])

    def _ensure_sshd(self, state: dict) -> None:
        c = self.config
        sd = c.state_dir
        host = self.endpoints().ssh["host"]
        cfg_file, cfg = sd / "sshd_config", self._sshd_config()
        changed = not cfg_file.exists() or cfg_file.read_text() != cfg
        pid = _read_pid(sd / "sshd.pid")
        if _pid_alive(pid) and _tcp_open(host, 22):
            if changed:  # sshd re-reads its configuration on SIGHUP
                cfg_file.write_text(cfg)
                os.kill(pid, signal.SIGHUP)
                time.sleep(0.3)
                _wait_tcp(host, 22, 10, f"sshd in {c.ns_dut}", log=sd / "sshd.log")
            return
        if not Path("/run/sshd").exists():  # sshd's privilege-separation directory
            Path("/run/sshd").mkdir(mode=0o755)
            state["created"]["run_sshd"] = True
        cfg_file.write_text(cfg)
        _ns(c.ns_dut, _which("sshd"), "-f", str(sd / "sshd_config"), "-E", str(sd / "sshd.log"))
        _wait_tcp(host, 22, 10, f"sshd in {c.ns_dut}", log=sd / "sshd.log")

    def _ensure_drones(self) -> None:
        c = self.config
        eps = self.endpoints()
        todo = [("drone", c.ns_tg, eps.drone_a["host"])]
        if c.two_drones:
            todo.append(("drone2", c.ns_tg2, eps.drone_b["host"]))
        procs = []
        for name, ns, host in todo:
            pidfile = c.state_dir / f"{name}.pid"
            if _pid_alive(_read_pid(pidfile)) and _tcp_open(host, c.drone_port):
                continue
            log = c.state_dir / f"{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen([_which("ip"), "netns", "exec", ns, _which("drone"), "-p", str(c.drone_port)],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            pidfile.write_text(str(proc.pid))
            procs.append((proc, name, ns, host, log))
        for proc, name, ns, host, log in procs:
            _wait_drone(host, c.drone_port, 30, f"Drone in {ns}", proc, log)

    # Down ----------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove everything the lab made. Safe to call twice or after a failed ``up``."""
        check_prerequisites()
        c = self.config
        state = self._load_state()
        removed: list[str] = []
        existing = set(list_namespaces())
        names = [c.ns_tg, c.ns_tg2, c.ns_dut]
        for ns in names:
            if ns not in existing:
                continue
            _kill_namespace_processes(ns)
            _run(["ip", "netns", "del", ns])
            removed.append(f"namespace {ns}")
        for short in ("tg", "dut", "tg2"):
            ifname = f"{c.prefix}-{short}-m"
            if _run(["ip", "link", "show", ifname], check=False).returncode == 0:
                _run(["ip", "link", "del", ifname], check=False)
                removed.append(f"link {ifname}")
        for key, value in state.get("global_sysctls", {}).items():
            _run(["sysctl", "-qw", f"{key}={value}"], check=False)
            removed.append(f"restored {key}={value}")
        state.setdefault("created", {})
        removed += self._remove_sudo_user(state)
        created = state["created"]
        if created.get("run_sshd"):
            try:
                Path("/run/sshd").rmdir()
            except OSError:
                pass
        if c.state_dir.exists():
            shutil.rmtree(c.state_dir)
            removed.append(f"directory {c.state_dir}")
        try:
            STATE_ROOT.rmdir()  # only when no other lab uses it
        except OSError:
            pass
        return removed


def _kernel_default(attr: str) -> int:
    return {"tcp_loose": 0, "syn_sent_timeout": 120, "syn_recv_timeout": 60}[attr]


def list_namespaces() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_namespace_processes(ns: str) -> None:
    pids = [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _pid_alive(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            return


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
