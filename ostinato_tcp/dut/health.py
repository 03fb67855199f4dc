"""The DUT's health as the conntrack driver reads it: the output of the health script
(:func:`~ostinato_tcp.dut.commands.health_script`) parsed into a :class:`~ostinato_tcp.domain.facts.Health`."""

from __future__ import annotations

import time

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.dut.entries import parse_stats_output

_HEALTH_KEYS = {
    "nf_conntrack_count": "count", "nf_conntrack_max": "max", "nf_conntrack_buckets": "buckets",
    "nf_conntrack_tcp_loose": "tcp_loose", "nf_conntrack_tcp_timeout_syn_sent": "syn_sent_timeout",
    "nf_conntrack_tcp_timeout_syn_recv": "syn_recv_timeout",
    "nf_conntrack_tcp_timeout_established": "established_timeout", "nf_conntrack_timestamp": "timestamp",
    "nf_conntrack_tcp_be_liberal": "tcp_be_liberal", "nf_conntrack_tcp_max_retrans": "tcp_max_retrans",
    "nf_conntrack_tcp_ignore_invalid_rst": "tcp_ignore_invalid_rst",
}


def parse_health(text: str) -> Health:
    h = Health(taken_at=time.time())
    stats_lines = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in _HEALTH_KEYS:
            if value.strip().isdigit():
                setattr(h, _HEALTH_KEYS[key], int(value))
        elif sep and key == "kernel":
            h.kernel = value.strip() or None
        elif sep and key == "ip_forward" and value.strip().isdigit():
            h.ip_forward = int(value)
        elif sep and key == "ip6_forward" and value.strip().isdigit():
            h.ip6_forward = int(value)
        elif sep and key == "uid" and value.strip().isdigit():
            h.uid = int(value)
        elif sep and key == "conntrack":
            h.has_conntrack = value.strip() == "yes"
        elif line.startswith("cpu="):
            stats_lines.append(line)
    h.counters = parse_stats_output("\n".join(stats_lines))
    return h
