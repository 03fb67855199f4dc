"""A lab's own test suite: the ostinato_tcp pytest plugin's fixtures (pytest --ostinato-tcp-lab LAB_FILE)."""

from pathlib import Path

PROFILE = Path(__file__).with_name("profile-2000.yaml")


def test_the_dut_tracks_2000_connections(ostinato_tcp_run):
    result = ostinato_tcp_run(PROFILE)
    assert result.passed, result.diagnosis


def test_a_lost_synack_leg_fails_with_its_diagnosis(ostinato_tcp_run):
    result = ostinato_tcp_run(PROFILE, {"connections.count": 500, "connections.first_client_port": 40000},
                              disable_stream="synack")
    assert result.outcome == "fail"
    assert result.verdict.counts["syn_sent_unreplied"] == 500
