"""The lab's refusals and configuration checks, without building a lab."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import ostinato_tcp.lab._lab as L
import ostinato_tcp.lab._sys as S
from ostinato_tcp.cli import cli
from ostinato_tcp.errors import LabError


def test_not_root_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(S.os, "geteuid", lambda: 1000)
    res = CliRunner().invoke(cli, ["lab", "up", "--prefix", "otcpn"])
    assert res.exit_code == 3
    assert "ostinato-tcp: error: the lab needs root" in res.output
    assert "Traceback" not in res.output


def test_missing_programs_are_named_with_their_package(monkeypatch):
    monkeypatch.setattr(S.os, "geteuid", lambda: 0)
    monkeypatch.setattr(S, "which", lambda prog: prog if prog in ("drone", "nft") else "/usr/bin/" + prog)
    with pytest.raises(LabError, match=r"missing program\(s\): nft \(Debian package nftables\), drone \(Debian "
                                       r"package ostinato\); run 'make deps'"):
        S.check_prerequisites()


@pytest.mark.parametrize("kw,words", [({"prefix": "Bad!"}, "lab prefix"), ({"mgmt_net": "10.0.0.0/30"}, "/28"),
                                      ({"tcp_loose": 2}, "0 or 1"), ({"nat": "dnat:1.2.3.4"}, "masquerade"),
                                      ({"syn_recv_timeout": 0}, "positive")])
def test_bad_lab_settings(kw, words):
    with pytest.raises(LabError, match=words):
        L.Lab(L.LabConfig(**kw))


def test_nft_ruleset_turns_conntrack_on_and_nat_on_request():
    plain = L.Lab(L.LabConfig()).nft_ruleset()
    assert "ct state established,related counter accept" in plain and "masquerade" not in plain
    nat = L.Lab(L.LabConfig(nat="snat:10.2.2.1")).nft_ruleset()
    assert 'oifname "dut-b" counter snat to 10.2.2.1' in nat
