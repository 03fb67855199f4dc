"""The lab DUT's sshd: keys, host key, known_hosts, the test users, and the daemon itself."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ostinato_tcp.errors import LabError
from ostinato_tcp.lab._config import PROCFS_PATH, STATE_ROOT, LabConfig
from ostinato_tcp.lab._sys import in_ns, pid_alive, read_pid, run, tcp_open, wait_tcp, which


def ensure_keys(config: LabConfig, eps) -> None:
    """The client key, a host key per sshd (DUT, and the jump host's own) and a known_hosts
    with each address the client may reach an sshd at."""
    sd = config.state_dir
    sd.mkdir(parents=True, exist_ok=True)
    os.chmod(sd, 0o711)  # the sudo test user reads authorized_keys; private keys stay 0600
    names = ["id_ed25519", "ssh_host_ed25519_key"] + (["jmp_host_ed25519_key"] if config.jump_host else [])
    for name in names:
        if not (sd / name).exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ostinato-tcp-lab-{name}",
                  "-f", str(sd / name)])
    (sd / "authorized_keys").write_text((sd / "id_ed25519.pub").read_text())
    lines = [_known_host(eps.ssh["host"], sd / "ssh_host_ed25519_key.pub")]
    if eps.ssh["jump"]:
        lines.append(_known_host(eps.ssh["jump"]["dut_host"], sd / "ssh_host_ed25519_key.pub"))
        lines.append(_known_host(eps.ssh["jump"]["host"], sd / "jmp_host_ed25519_key.pub"))
    (sd / "known_hosts").write_text("".join(lines))


def _known_host(host: str, pub: Path) -> str:
    kind, key = pub.read_text().split()[:2]
    return f"{host} {kind} {key}\n"


# in /run (root's alone: a lock in the world-writable /run/lock could be a user's symlink), not in
# STATE_ROOT, which goes with the last lab
USERS_LOCK = Path("/run/ostinato-tcp-lab-users.lock")


@contextmanager
def _users_locked() -> Iterator[None]:
    """One lab at a time changes the host's users: useradd, chpasswd and userdel of two labs
    brought up at once would otherwise meet on /etc/passwd's lock and fail."""
    fd = os.open(USERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_sudo_user(config: LabConfig, state: dict) -> None:
    if not config.sudo_user:
        remove_sudo_user(config, state)
        return
    with _users_locked():
        _add_sudo_user(config, state)


def _add_sudo_user(config: LabConfig, state: dict) -> None:
    c = config
    user = c.sudo_user_name
    if shutil.which("sudo") is None or not Path("/etc/sudoers.d").is_dir():
        raise LabError("the lab's sudo user needs sudo (Debian package sudo); run 'make deps'")
    if run(["id", "-u", user], check=False).returncode != 0:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", "/bin/sh", user])
        state["created"]["user"] = user
    # The sudo user also logs in with a password (sshd allows it for this user only), so
    # that password authentication is tested; the password is in a root-only file.
    pw_file = c.state_dir / "sudo-user-password"
    if not pw_file.exists():
        pw_file.touch(mode=0o600)
        pw_file.write_text(secrets.token_urlsafe(18) + "\n")
    run(["chpasswd"], input=f"{user}:{pw_file.read_text().strip()}\n")
    plain = c.plain_user_name
    if run(["id", "-u", plain], check=False).returncode != 0:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", "/bin/sh", plain])
        state["created"]["plain_user"] = plain
    # '*' (no password) instead of useradd's '!' (locked): sshd refuses locked accounts
    # even for key logins when PAM is off.
    run(["usermod", "-p", "*", plain])
    sudoers = Path(f"/etc/sudoers.d/{c.prefix}-op")
    sudoers.write_text(f"{user} ALL=(root) NOPASSWD: ALL\n")
    os.chmod(sudoers, 0o440)
    state["created"]["sudoers"] = str(sudoers)


def remove_sudo_user(config: LabConfig, state: dict) -> list[str]:
    with _users_locked():
        return _remove_sudo_user(config, state)


def _remove_sudo_user(config: LabConfig, state: dict) -> list[str]:
    removed = []
    sudoers = Path(f"/etc/sudoers.d/{config.prefix}-op")
    created = state.get("created", {})
    user = created.pop("user", None)
    if sudoers.exists():  # the lab's own user, also when the state file was lost
        sudoers.unlink()
        removed.append(f"file {sudoers}")
        user = user or config.sudo_user_name
    if user and run(["id", "-u", user], check=False).returncode == 0:
        run(["userdel", user], check=False)
        removed.append(f"user {user}")
    plain = created.pop("plain_user", None) or (config.plain_user_name if user else None)
    if plain and run(["id", "-u", plain], check=False).returncode == 0:
        run(["userdel", plain], check=False)
        removed.append(f"user {plain}")
    created.pop("sudoers", None)
    return removed


def sshd_config(config: LabConfig, listen: list[str], *, host_key: str = "ssh_host_ed25519_key",
                name: str = "sshd") -> str:
    c = config
    sd = c.state_dir
    return "\n".join([f"ListenAddress {host}" for host in listen] + [
        "Port 22",
        f"HostKey {sd / host_key}",
        f"PidFile {sd / (name + '.pid')}",
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
    ] + ([f"SetEnv PATH={PROCFS_PATH}"] if c.dut == "procfs" else []) + ([f"Match User {c.sudo_user_name}", "    PasswordAuthentication yes"] if c.sudo_user else []) + [""])


def ensure_sshd(config: LabConfig, state: dict, eps) -> None:
    """The DUT's sshd (on its management address, and on its link to the jump host when
    there is one) and the jump host's sshd."""
    c = config
    jump = eps.ssh["jump"]
    daemons = [("sshd", c.ns_dut, [eps.ssh["host"]] + ([jump["dut_host"]] if jump else []), "ssh_host_ed25519_key")]
    if jump:
        daemons.append(("sshd-jmp", c.ns_jmp, [jump["host"]], "jmp_host_ed25519_key"))
    if not PRIVSEP_DIR.exists():  # sshd's privilege-separation directory, which every lab's sshd uses
        PRIVSEP_DIR.mkdir(mode=0o755)
        PRIVSEP_MARK.touch()  # the last lab down removes it (remove_privsep_dir)
    for name, ns, listen, key in daemons:
        _ensure_one(c, ns, name, sshd_config(c, listen, host_key=key, name=name), listen[0])


def _ensure_one(c: LabConfig, ns: str, name: str, cfg: str, host: str) -> None:
    sd = c.state_dir
    cfg_file, log = sd / f"{name}_config", sd / f"{name}.log"
    changed = not cfg_file.exists() or cfg_file.read_text() != cfg
    pid = read_pid(sd / f"{name}.pid")
    if pid_alive(pid) and tcp_open(host, 22):
        if changed:  # sshd re-reads its configuration on SIGHUP
            cfg_file.write_text(cfg)
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.3)
            wait_tcp(host, 22, 10, f"sshd in {ns}", log=log)
        return
    cfg_file.write_text(cfg)
    in_ns(ns, which("sshd"), "-f", str(cfg_file), "-E", str(log))
    wait_tcp(host, 22, 10, f"sshd in {ns}", log=log)


PRIVSEP_DIR = Path("/run/sshd")
PRIVSEP_MARK = STATE_ROOT / "created-run-sshd"  # shared by the labs: the directory is not one lab's


def remove_privsep_dir(state: dict) -> None:
    """Remove /run/sshd when a lab made it and no lab is left that runs an sshd needing it."""
    if state.get("created", {}).get("run_sshd"):  # a lab brought up by an earlier version
        PRIVSEP_MARK.touch()
    if not PRIVSEP_MARK.exists() or any(p.is_dir() for p in STATE_ROOT.iterdir()):
        return
    try:
        PRIVSEP_DIR.rmdir()
    except OSError:
        pass
    PRIVSEP_MARK.unlink(missing_ok=True)
