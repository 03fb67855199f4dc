#!/bin/sh
# Install the Debian packages the built-in lab and the tests need (Debian 12 / Ubuntu 24.04):
# Drone, the DUT (conntrack, nftables, sshd), tcpdump for the capture tests, protoc for make proto,
# Chromium (headless) for the test that renders the HTML reports, Open vSwitch for the lab's ovs DUT
# (lab up --dut ovs: its own ovs-vswitchd inside the DUT namespace).
# A controller for a real lab needs none of them (pip install .).
# Runs apt-get only when something is missing, so it is cheap to call every time.
set -eu

PACKAGES="ostinato conntrack nftables openssh-server openssh-client iproute2 sudo procps python3 python3-venv tcpdump protobuf-compiler chromium openvswitch-switch"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: Debian packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends keeps the Ostinato GUI's optional extras off a lab box.
$SUDO apt-get install -y -q --no-install-recommends $missing
# Debian's openssh-server starts a host-wide sshd where an init system runs; the lab
# starts its own sshd inside the DUT namespace and does not need that one.
