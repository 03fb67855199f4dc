"""The domain, without I/O: the connection space, stream and device specs, the plan, what is
known of a DUT and of Drone's ceiling, the verdict over conntrack entries and its diagnosis."""
