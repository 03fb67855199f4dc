"""ostinato-tcp: prove how many TCP connections a Linux conntrack/NAT box tracks."""
