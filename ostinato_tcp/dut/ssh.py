"""SSH to the DUT with paramiko: host keys verified, every step under a timeout,
command output read as a stream.

Host keys: the DUT's key must be in the known_hosts file (``dut.known_hosts``,
else ``~/.ssh/known_hosts``). An unknown key is refused with its fingerprint and
the command that accepts it; a changed key is refused with the command that
removes the old one. ``accept_new_host_key`` (``--accept-new-host-key``) adds an
unknown key to the file, like OpenSSH's ``StrictHostKeyChecking=accept-new``; a
changed key is always refused.

Authentication: a key file, the ssh-agent, the keys OpenSSH would try, or a
password taken only from an environment variable (``dut.password_env``) or a
prompt (``--ask-dut-password``). ``~/.ssh/config`` is honoured for HostName,
User, Port, IdentityFile and ProxyCommand.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import paramiko

from ostinato_tcp.errors import DutCommandError, HostKeyError, SshDroppedError, SshError, UsageError
from ostinato_tcp.ground.addr import split_host_port

log = logging.getLogger(__name__)


@dataclass
class SshTarget:
    host: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    accept_new_host_key: bool = False
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    ssh_config: bool = True
    sudo: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    netns: str | None = None  # commands run as 'ip netns exec NETNS ...'
    jump: list["Hop"] = field(default_factory=list)  # SSH hops to the DUT, first to last

    @classmethod
    def from_scenario(cls, dut, *, accept_new_host_key: bool = False, password: str | None = None) -> "SshTarget":
        return cls(host=dut.host, port=dut.port, user=dut.user, key_file=str(dut.key_file) if dut.key_file else None,
                   known_hosts=str(dut.known_hosts) if dut.known_hosts else None,
                   accept_new_host_key=accept_new_host_key or dut.accept_new_host_key, password=password,
                   password_env=dut.password_env, ssh_config=dut.ssh_config, sudo=dut.sudo,
                   connect_timeout=dut.connect_timeout, command_timeout=dut.command_timeout,
                   netns=getattr(dut, "netns", None),
                   jump=[Hop(h.host, h.port, h.user, str(h.key_file) if h.key_file else None,
                             str(h.known_hosts) if h.known_hosts else None, f"dut.jump[{i}]")
                         for i, h in enumerate(getattr(dut, "jump", []))])


@dataclass
class Hop:
    """An SSH jump host on the way to the DUT."""

    host: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    field: str = "dut.jump[0]"  # how messages name it


@dataclass
class CommandResult:
    rc: int
    stdout: str
    stderr: str


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_base64()[:24]


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str, port: int, field: str = "dut"):
        self.known_hosts, self.port, self.field = known_hosts, port, field

    def missing_host_key(self, client, hostname, key):
        name = hostname  # paramiko passes "[host]:port" for other ports
        host = name.strip("[").split("]")[0]
        raise HostKeyError(
            f"{self.field}.known_hosts: unknown SSH host key for {name} ({key.get_name()} {_fingerprint(key)}), not in "
            f"{self.known_hosts}. Check the fingerprint on the host, then add it: ssh-keyscan -p {self.port} {host} >> "
            f"{self.known_hosts} (or set dut.accept_new_host_key / --accept-new-host-key)")


def _ssh_config(host: str) -> dict:
    cfg_path = Path("~/.ssh/config").expanduser()
    if not cfg_path.exists():
        return {}
    try:
        return paramiko.SSHConfig.from_path(str(cfg_path)).lookup(host)
    except Exception as exc:  # a broken config file is the user's to fix; say where
        raise SshError(f"cannot read {cfg_path}: {exc}") from None


def _proxy_jump(spec: str) -> list[Hop]:
    """``ProxyJump`` of ~/.ssh/config (``[user@]host[:port],...``) as hops."""
    hops = []
    for i, part in enumerate(p for p in spec.split(",") if p.strip() and p.strip().lower() != "none"):
        user, _, hostport = part.strip().rpartition("@")
        try:
            host, port = split_host_port(hostport, 22)
        except ValueError as exc:
            raise SshError(f"~/.ssh/config ProxyJump[{i}]: {exc}") from None
        hops.append(Hop(host=host, port=port, user=user or None, field=f"ProxyJump[{i}]"))
    return hops


def open_client(*, host: str, port: int, user: str, key_files: list[str], password: str | None, how: str,
                known: str, accept_new: bool, sock, timeout: float, field: str) -> paramiko.SSHClient:
    """One verified, authenticated SSH connection; every failure a one-line error naming ``field``."""
    client = paramiko.SSHClient()
    if Path(known).exists():
        try:
            client.load_host_keys(known)
        except (OSError, paramiko.SSHException) as exc:
            raise HostKeyError(f"{field}.known_hosts: cannot read {known}: {exc}") from None
    elif not accept_new:
        raise HostKeyError(f"{field}.known_hosts: {known} does not exist: the host key of {host} cannot be verified. "
                           f"Create it (ssh-keyscan -p {port} {host} >> {known}) or set "
                           "dut.accept_new_host_key / --accept-new-host-key")
    if accept_new:
        Path(known).parent.mkdir(parents=True, exist_ok=True)
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:
        client.set_missing_host_key_policy(_RefuseUnknown(known, port, field))
    where = f"{user}@{host}:{port}"
    try:
        client.connect(host, port=port, username=user, password=password, key_filename=key_files or None,
                       allow_agent=password is None, look_for_keys=not key_files and password is None,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, sock=sock, compress=False)
    except HostKeyError:
        raise
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"{field}.known_hosts: the SSH host key of {_known_hosts_name(host, port)} CHANGED (got "
            f"{exc.key.get_name()} {_fingerprint(exc.key)}, {known} has {_fingerprint(exc.expected_key)}); refusing "
            f"to connect. If the host was reinstalled, remove the old key: ssh-keygen -R "
            f"'{_known_hosts_name(host, port)}' -f {known}") from None
    except paramiko.AuthenticationException as exc:
        raise SshError(f"{field}.user: authentication failed for {where} with {how}: {exc}") from None
    except socket.timeout:
        raise SshError(f"{field}.host: no SSH answer from {where} within {timeout:g} s") from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        why = "; ".join(sorted({e.strerror or str(e) for e in exc.errors.values()})).lower()
        raise SshError(f"{field}.host: cannot connect to {where}: {why} (is sshd listening on {field}.port {port}?)"
                       ) from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise SshError(f"{field}.host: cannot connect to {where}: {exc}") from None
    if accept_new:
        try:
            client.save_host_keys(known)
        except OSError as exc:
            log.warning("could not save the host key of %s to %s: %s", host, known, exc)
    return client


class DutShell:
    """One SSH connection to the DUT; commands are argument lists, never shell text."""

    def __init__(self, target: SshTarget):
        self.target = target
        self._client: paramiko.SSHClient | None = None
        self._hops: list[paramiko.SSHClient] = []  # jump hosts' connections, closed with this one
        self.hostname = target.host
        self.port = target.port
        self.user = target.user

    # Connection ---------------------------------------------------------------
    def connect(self) -> "DutShell":
        t = self.target
        hostname, port, user, key_files, proxy, hops = t.host, t.port, t.user, [], None, list(t.jump)
        if t.ssh_config:
            cfg = _ssh_config(t.host)
            hostname = cfg.get("hostname", hostname)
            if "port" in cfg and port == 22:
                port = int(cfg["port"])
            user = user or cfg.get("user")
            key_files = [os.path.expanduser(k) for k in cfg.get("identityfile", [])]
            if cfg.get("proxycommand") and not hops:
                proxy = paramiko.ProxyCommand(cfg["proxycommand"])
            if cfg.get("proxyjump") and not hops:
                hops = _proxy_jump(cfg["proxyjump"])
        user = user or os.environ.get("USER") or "root"
        if t.key_file:
            key_files = [os.path.expanduser(t.key_file)]
        for k in key_files:
            if not Path(k).exists() and t.key_file:
                raise UsageError(f"dut.key_file: {k} does not exist")
        password = t.password
        if password is None and t.password_env:
            password = os.environ.get(t.password_env)
            if password is None:
                raise UsageError(f"dut.password_env: {t.password_env} is not set in the environment")
        how = ("the password from dut.password_env " + str(t.password_env) if password and t.password_env else
               "the password given" if password else
               "dut.key_file " + ", ".join(key_files) if key_files else "the SSH agent and ~/.ssh keys")
        known = os.path.expanduser(t.known_hosts) if t.known_hosts else os.path.expanduser("~/.ssh/known_hosts")
        self._close_hops()
        sock = proxy
        try:
            for i, hop in enumerate(hops):  # each hop forwards a channel to the next (direct-tcpip)
                nxt = (hops[i + 1].host, hops[i + 1].port) if i + 1 < len(hops) else (hostname, port)
                sock = self._through(hop, sock, nxt, user, key_files, known)
            client = open_client(host=hostname, port=port, user=user, key_files=key_files, password=password,
                                 how=how, known=known, accept_new=t.accept_new_host_key, sock=sock,
                                 timeout=t.connect_timeout, field="dut")
        except BaseException:
            self._close_hops()
            raise
        self._client = client
        self.hostname, self.port, self.user = hostname, port, user
        return self

    def _through(self, hop: Hop, sock, nxt: tuple[str, int], user: str, key_files: list[str], known: str):
        """Log in to a jump host (over ``sock``) and open a direct-tcpip channel to ``nxt``."""
        t = self.target
        cfg = _ssh_config(hop.host) if t.ssh_config else {}
        hop_host = cfg.get("hostname", hop.host)
        hop_keys = [os.path.expanduser(hop.key_file)] if hop.key_file else (
            [os.path.expanduser(k) for k in cfg.get("identityfile", [])] or key_files)
        hop_known = os.path.expanduser(hop.known_hosts) if hop.known_hosts else known
        hop_user = hop.user or cfg.get("user") or user
        client = open_client(host=hop_host, port=hop.port, user=hop_user, key_files=hop_keys, password=None,
                             how=f"{hop.field}.key_file " + ", ".join(hop_keys) if hop_keys else "the SSH agent",
                             known=hop_known, accept_new=t.accept_new_host_key, sock=sock, timeout=t.connect_timeout,
                             field=hop.field)
        self._hops.append(client)
        try:
            return client.get_transport().open_channel("direct-tcpip", nxt, ("127.0.0.1", 0),
                                                       timeout=t.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(f"{hop.field}: {hop_user}@{hop_host}:{hop.port} cannot forward to {nxt[0]}:{nxt[1]}: "
                           f"{exc}") from None

    def _close_hops(self) -> None:
        for client in reversed(self._hops):
            client.close()
        self._hops = []

    def reconnect(self) -> "DutShell":
        """A new connection after the old one dropped."""
        self.close()
        return self.connect()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._close_hops()

    def __enter__(self) -> "DutShell":
        if self._client is None:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    def session_tuple(self) -> tuple[str, int, str, int] | None:
        """(our address, our port, DUT address, DUT port) of this SSH connection, as the
        DUT's conntrack sees it when nothing translates it."""
        try:
            sock = self._client.get_transport().sock
            local, remote = sock.getsockname(), sock.getpeername()
            return local[0], local[1], remote[0], remote[1]
        except (AttributeError, OSError):
            return None

    # Commands ------------------------------------------------------------------
    def command_line(self, argv: list[str], *, sudo: bool | None = None) -> str:
        """The shell text for ``argv``: every word quoted; inside ``ip netns exec NETNS`` when the
        DUT forwards in a namespace, and ``sudo -n`` first when configured."""
        words = [str(a) for a in argv]
        if self.target.netns:
            words = ["ip", "netns", "exec", self.target.netns] + words
        if self.target.sudo if sudo is None else sudo:
            words = ["sudo", "-n", "--"] + words
        return shlex.join(words)

    def run(self, argv: list[str], *, timeout: float | None = None, check: bool = True, sudo: bool | None = None,
            ok_codes: tuple[int, ...] = (0,), max_bytes: int = 32 << 20, raw: str | None = None) -> CommandResult:
        """Run a command whose output is small; returns its exit code and text."""
        out = bytearray()

        def keep(chunk: bytes) -> None:
            if len(out) + len(chunk) > max_bytes:
                raise DutCommandError(f"output of '{argv[0]}' on {self.where} exceeds {max_bytes} bytes")
            out.extend(chunk)

        rc, err = self.stream(argv, keep, timeout=timeout, sudo=sudo, raw=raw)
        res = CommandResult(rc, out.decode("utf-8", "replace"), err)
        if check and rc not in ok_codes:
            raise DutCommandError(f"'{raw or self.command_line(argv, sudo=sudo)}' on {self.where} exited {rc}: "
                                  f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}")
        return res

    def stream(self, argv: list[str], on_chunk: Callable[[bytes], None], *, timeout: float | None = None,
               sudo: bool | None = None, raw: str | None = None, chunk_size: int = 1 << 20) -> tuple[int, str]:
        """Run a command and hand its stdout to ``on_chunk`` as it arrives (never held whole).
        Returns (exit code, the last 64 KB of stderr). ``raw`` is shell text the project built
        itself from quoted words (for pipes); argv is used otherwise."""
        if self._client is None:
            self.connect()
        limit = self.target.command_timeout if timeout is None else timeout
        cmd = raw if raw is not None else self.command_line(argv, sudo=sudo)
        deadline = time.monotonic() + limit
        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise SshDroppedError(f"the SSH connection to {self.where} is closed")
            chan = transport.open_session(window_size=16 << 20, max_packet_size=32768, timeout=limit)
            chan.settimeout(0.5)
            chan.exec_command(cmd)
            err = bytearray()
            while True:
                try:
                    data = chan.recv(chunk_size)
                except socket.timeout:
                    data = None
                if data:
                    on_chunk(data)
                while chan.recv_stderr_ready():
                    err.extend(chan.recv_stderr(65536))
                    del err[:-65536]
                if data == b"":
                    break
                if time.monotonic() > deadline:
                    chan.close()
                    raise DutCommandError(f"'{cmd}' on {self.where} did not finish within {limit:g} s")
            while not chan.exit_status_ready():
                if time.monotonic() > deadline:
                    chan.close()
                    raise DutCommandError(f"'{cmd}' on {self.where} did not finish within {limit:g} s")
                time.sleep(0.01)
            while chan.recv_stderr_ready():
                err.extend(chan.recv_stderr(65536))
            rc = chan.recv_exit_status()
            chan.close()
            if rc == -1:  # the channel closed without an exit status: the connection died
                raise SshDroppedError(f"the SSH connection to {self.where} dropped while running '{cmd}'")
            return rc, err[-65536:].decode("utf-8", "replace")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshDroppedError(f"SSH to {self.where} failed while running '{cmd}': {exc}") from None
