"""ostinato-tcp: prove how many TCP connections a Linux conntrack/NAT box tracks."""

__version__ = "0.1.0"
