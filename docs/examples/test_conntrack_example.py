"""A lab's own test suite: the ostinato_tcp pytest plugin's fixtures (pytest --ostinato-tcp-lab LAB_FILE)."""

from pathlib import Path

PROFILE = Path(__file__).with_name("profile-2000.yaml")


def test_the_dut_tracks_2000_connections(ostinato_tcp_run):
    result = ostinato_tcp_run(PROFILE)
    assert result.passed, result.diagnosis


def test_synacks_drone_never_sent_are_not_blamed_on_the_dut(ostinato_tcp_run):
    result = ostinato_tcp_run(PROFILE, {"connections.count": 500, "connections.first_client_port": 40000},
                              disable_stream="synack")
    assert result.outcome == "inconclusive"  # the traffic, not the DUT: port B sent none of its SYN-ACKs
    assert result.verdict.counts["syn_sent_unreplied"] == 500
