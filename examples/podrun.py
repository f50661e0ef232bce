"""Start a compiled pod with uvicorn on loopback, wait until it answers, stop it: for the demo
and the tests, which run pods exactly as the Dockerfile does (`python -m uvicorn app:app
--no-access-log`)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

# Where the kernel takes the local ports of outgoing connections from (Linux's default).
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL_LOW = 32768


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 nobody listens on right now, picked below the
    ephemeral range. A port the kernel hands out for `bind(0)` comes from that range, so
    until the server binds it, any outgoing connection may take it as its local port (a
    bench run failed on EADDRINUSE so); below the range only another listener can."""
    low = _ephemeral_low()
    candidates = random.sample(range(low // 2, low), min(low // 2, 50 * count + 50))
    ports: list[int] = []
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports on 127.0.0.1 below {low}")


def free_port() -> int:
    """One port as `free_ports` picks them."""
    return free_ports(1)[0]


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


@contextlib.contextmanager
def running_pod(
    pod_dir: Path, env: dict[str, str], timeout: float = 30.0, log_path: Path | None = None
) -> Iterator[str]:
    """Run the pod in `pod_dir`; yields its base URL; stops it (by its own pid) on exit."""
    port = free_port()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-access-log"],
        cwd=pod_dir,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, timeout)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if log_path:
            log.close()


def _wait_until_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pod exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pod did not answer /healthz within {timeout} s")
