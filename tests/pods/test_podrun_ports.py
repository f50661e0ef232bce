"""examples/podrun.py's ports: the demo, the tests and the bench start every server on them."""

from __future__ import annotations

import socket
from pathlib import Path

from podrun import free_ports


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range():
    """Outgoing connections take their local ports from the ephemeral range, so a port picked
    there may be gone before the server binds it; below it, only a listener can take one."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert all(low // 2 <= port < low for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
