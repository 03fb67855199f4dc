"""The DUT side against the lab's real sshd and conntrack: host keys, sudo, quoting,
clearing only the test's entries, health."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ostinato_tcp.dut import DutSession, DutShell, SshTarget
from ostinato_tcp.dut import commands as C
from ostinato_tcp.errors import DutCommandError, HostKeyError


def target(lab, **kw) -> SshTarget:
    base = dict(host=lab.ssh["host"], port=lab.ssh["port"], user=lab.ssh["user"], key_file=lab.ssh["key_file"],
                known_hosts=lab.ssh["known_hosts"], ssh_config=False, connect_timeout=5, command_timeout=30)
    base.update(kw)
    return SshTarget(**base)


def dut_ns(lab, *cmd, input=None) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], *cmd], capture_output=True, text=True,
                          input=input).stdout


def test_known_host_key_is_accepted(lab):
    with DutShell(target(lab)) as sh:
        assert sh.run(["uname", "-s"]).stdout.strip() == "Linux"


def test_changed_host_key_is_refused(lab, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{lab.ssh['host']} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n")
    host = re.escape(lab.ssh["host"])
    with pytest.raises(HostKeyError, match=rf"host key of {host} CHANGED .* ssh-keygen -R '{host}'"):
        DutShell(target(lab, known_hosts=str(kh))).connect()
    # accept-new never accepts a changed key
    with pytest.raises(HostKeyError, match="CHANGED"):
        DutShell(target(lab, known_hosts=str(kh), accept_new_host_key=True)).connect()


def test_unknown_host_key_is_refused_then_accepted_on_request(lab, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    host = re.escape(lab.ssh["host"])
    with pytest.raises(HostKeyError, match=rf"unknown SSH host key for {host} \(ssh-ed25519 SHA256:.*"
                                           rf"ssh-keyscan -p 22 {host} >>"):
        DutShell(target(lab, known_hosts=str(kh))).connect()
    with DutShell(target(lab, known_hosts=str(kh), accept_new_host_key=True)) as sh:
        assert sh.run(["true"]).rc == 0
    assert lab.ssh["host"] in kh.read_text()
    with DutShell(target(lab, known_hosts=str(kh))) as sh:  # now known: strict checking passes
        assert sh.run(["true"]).rc == 0
    with pytest.raises(HostKeyError, match="does not exist"):
        DutShell(target(lab, known_hosts=str(tmp_path / "none"))).connect()


def test_sudo_path(lab):
    user = lab.ssh["sudo_user"]
    assert user, "the test lab has a sudo user"
    with DutShell(target(lab, user=user, sudo=True)) as sh:
        assert sh.run(["id", "-u"]).stdout.strip() == "0"  # through sudo -n
        health = DutSession(sh).health()
    assert health.max > 0 and "invalid" in health.counters
    with DutShell(target(lab, user=user, sudo=False)) as sh:
        assert sh.run(["id", "-u"]).stdout.strip() != "0"
        with pytest.raises(DutCommandError, match=f"dut.user: {user} is not root .* set dut.sudo: true"):
            DutSession(sh).health()


def test_arguments_are_quoted_never_executed(lab):
    marker = Path("/tmp/ostinato-tcp-injection-marker")  # the DUT namespace shares this filesystem
    marker.unlink(missing_ok=True)
    nasty = ["$(touch /tmp/ostinato-tcp-injection-marker)", "; touch /tmp/ostinato-tcp-injection-marker",
             "`touch /tmp/ostinato-tcp-injection-marker`", "' ; touch /tmp/ostinato-tcp-injection-marker ; '"]
    with DutShell(target(lab)) as sh:
        out = sh.run(["printf", "%s\\n"] + nasty).stdout.splitlines()
        assert out == nasty
        with DutShell(target(lab, sudo=True)) as sh2:
            assert sh2.run(["printf", "%s\\n"] + nasty).stdout.splitlines() == nasty
    assert not marker.exists()
    with pytest.raises(ValueError):
        C.dump_argv(("10.2.2.100; touch /tmp/ostinato-tcp-injection-marker", 8080))
    assert not marker.exists()


def test_clear_removes_only_the_test_entries(lab):
    ins = ("-I -p tcp -s 10.1.1.100 -d 10.2.2.100 --sport 40000 --dport 8080 --state ESTABLISHED -t 600 -u ASSURED\n"
           "-I -p tcp -s 10.1.1.101 -d 10.2.2.100 --sport 40001 --dport 8080 --state SYN_SENT -t 60\n"
           "-I -p tcp -s 10.1.1.100 -d 10.2.2.200 --sport 40002 --dport 8080 --state ESTABLISHED -t 600\n"
           "-I -p tcp -s 10.1.1.100 -d 10.2.2.100 --sport 40003 --dport 9090 --state ESTABLISHED -t 600\n")
    with DutShell(target(lab)) as sh:
        DutSession(sh).clear(("10.2.2.100", 8080), "test")  # whatever earlier tests left
        dut_ns(lab, "conntrack", "-R", "-", input=ins)
        deleted = DutSession(sh).clear(("10.2.2.100", 8080), "test")
        assert deleted == 2
        assert DutSession(sh).clear(("10.2.2.100", 8080), "test") == 0  # nothing left: still fine
    left = dut_ns(lab, "conntrack", "-L", "-p", "tcp")
    assert "sport=40002" in left and "sport=40003" in left  # other people's entries stay
    assert "sport=40000" not in left and "sport=40001" not in left
    dut_ns(lab, "conntrack", "-D", "-p", "tcp", "--orig-port-src", "40002")
    dut_ns(lab, "conntrack", "-D", "-p", "tcp", "--orig-port-src", "40003")


def test_health_and_compressed_dump(lab):
    with DutShell(target(lab)) as sh:
        d = DutSession(sh, compress="on")
        h = d.health()
        assert (h.syn_sent_timeout, h.syn_recv_timeout, h.tcp_loose) == (120, 60, 0)
        assert h.kernel and h.count >= 1  # the SSH session itself
        chunks = []
        info = d.dump(["conntrack", "-L", "-p", "tcp"], chunks.append, expected_entries=10**6)
        text = b"".join(chunks).decode()
        assert info["compressed"] and "dport=22" in text and info["entries_shown"] >= 1
        with pytest.raises(DutCommandError, match="exited"):
            d.dump(["conntrack", "-L", "--no-such-option"], chunks.append, expected_entries=10**6)


RELAY = """
import socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while True:
        data = sys.stdin.buffer.read1(65536)
        if not data:
            break
        s.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""


def test_ssh_config_alias_identity_and_proxycommand(lab, tmp_path, monkeypatch):
    import sys

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    (home / ".ssh" / "config").write_text(
        f"Host labdut\n  HostName {lab.ssh['host']}\n  User {lab.ssh['sudo_user']}\n"
        f"  IdentityFile {lab.ssh['key_file']}\n"
        f"Host labdut-proxied\n  HostName {lab.ssh['host']}\n  User root\n  IdentityFile {lab.ssh['key_file']}\n"
        f"  ProxyCommand {sys.executable} {relay} %h %p\n")
    monkeypatch.setenv("HOME", str(home))
    t = SshTarget(host="labdut", known_hosts=lab.ssh["known_hosts"], connect_timeout=5, command_timeout=30)
    with DutShell(t) as sh:  # HostName, User and IdentityFile come from the config
        assert sh.run(["id", "-un"]).stdout.strip() == lab.ssh["sudo_user"]
        assert sh.where == f"{lab.ssh['sudo_user']}@{lab.ssh['host']}:22"
    t = SshTarget(host="labdut-proxied", known_hosts=lab.ssh["known_hosts"], connect_timeout=5)
    with DutShell(t) as sh:  # through the ProxyCommand
        assert sh.run(["id", "-un"]).stdout.strip() == "root"
    with pytest.raises(Exception, match="dut.password_env: NO_SUCH_VAR is not set"):
        DutShell(SshTarget(host="labdut", known_hosts=lab.ssh["known_hosts"], password_env="NO_SUCH_VAR")).connect()
