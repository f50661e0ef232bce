"""Clients that never read their answers hold no query slot: a pod with two slots, two clients
that asked for a big CSV answer and stopped reading, and other clients still answered at once.

The stalled sockets shrink their receive buffers, so the pod's writes block after a few
hundred kilobytes of an answer of tens of megabytes."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from podkit import make_pod, pod_json, serving

pytestmark = pytest.mark.pod

ROWS = 2_000_000  # of the 20,000 orders, each 100 times: about 50 MB of CSV
BIG = {
    **pod_json(
        "big-orders",
        "sales.orders",
        "SELECT order_id, country, sales, r.i FROM source, range(100) r(i) ORDER BY ALL",
        columns=["order_id", "country", "sales", "i"],
        read_columns=["order_id", "country", "sales"],
    ),
    "max_page_size": ROWS,
}


@contextlib.contextmanager
def stalled(base_url: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that ask for the whole answer as CSV and never read a byte."""
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(b"GET /get_data?format=csv HTTP/1.1\r\nHost: pod\r\n\r\n")
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def wait_for_headers(sock: socket.socket, timeout: float = 120) -> None:
    """Until the first bytes of the response are in `sock`'s buffer (not read from it)."""
    sock.settimeout(timeout)
    assert sock.recv(1, socket.MSG_PEEK) == b"H"


def test_two_clients_that_never_read_do_not_hold_up_the_others(tmp_path, pod_env):
    env = {**pod_env, "DATAPIC_MAX_CONCURRENT_QUERIES": "2", "DATAPIC_QUERY_QUEUE_SECONDS": "3"}
    with (
        serving(make_pod(tmp_path, BIG), env, tmp_path / "pod.log") as client,
        stalled(str(client.base_url), 2) as sockets,
    ):
        for sock in sockets:
            wait_for_headers(sock)  # its answer computed, its sending blocked on the full socket
        # Were the stalled answers holding both slots, each of these would wait out the 3 s
        # queue and get a 503; no timing is asserted (a busy machine only makes them slower).
        for _ in range(5):
            response = client.get("/get_data", params={"limit": 10})
            assert response.status_code == 200, response.text
            assert len(response.json()) == 10
        assert client.get("/healthz").status_code == 200
        # The stalled answers are still being sent: the pod kept their connections.
        for sock in sockets:
            sock.setblocking(False)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
