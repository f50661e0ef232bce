"""Server processes the bench starts on 127.0.0.1 (pods under uvicorn, ROAPI): each in its own
process group, killed by its own pid at the end; plus a keep-alive HTTP client for timing."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The examples' pod runner picks the ports (below the ephemeral range: see free_ports).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from podrun import free_port  # noqa: E402


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request: GET with a query string, or POST with a body."""

    method: str
    path: str
    body: bytes | None = None


class HttpClient:
    """One keep-alive connection, so every timed request pays the same (small) client cost."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> tuple[int, bytes]:
        """Status and whole body; reconnects once when the server closed the connection."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, self.timeout)
            try:
                self._conn.request(request.method, request.path, body=request.body)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Server:
    """A server subprocess listening on `port`; `stop()` kills its process group."""

    def __init__(self, name: str, argv: list[str], port: int, cwd: Path, env: dict, log: Path):
        self.name = name
        self.port = port
        self.log = log
        self.started = time.perf_counter()
        self.cold_start_s: float | None = None
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The server's process id (also its process group id)."""
        return self.process.pid

    def wait_for_answer(self, request: Request, timeout: float) -> float:
        """Seconds from process launch until `request` first answers 200 (the cold start)."""
        deadline = self.started + timeout
        client = HttpClient(self.port, timeout=max(timeout, 1.0))
        try:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with code {self.process.returncode} before "
                        f"answering; its log: {self.log}"
                    )
                try:
                    status, body = client.send(request)
                except OSError:
                    client.close()
                    time.sleep(0.01)
                    continue
                if status == 200:
                    return time.perf_counter() - self.started
                raise RuntimeError(
                    f"{self.name} answered {status}: {body[:300]!r}; its log: {self.log}"
                )
        finally:
            client.close()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s; log: {self.log}")

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident set (VmHWM), in MB; None where /proc does not say."""
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> float | None:
        """The process's resident set now (VmRSS), in MB; None where /proc does not say."""
        return self._status_mb("VmRSS:")

    def reset_peak_rss(self) -> bool:
        """Start VmHWM again from the current RSS (Linux: 5 into clear_refs); False if refused."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far, user and system, all its threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # After the command name: state is field 3, utime and stime fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _status_mb(self, key: str) -> float | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        """Terminate the process group, then kill it if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()


def metric(port: int, name: str) -> float | None:
    """The value of an unlabelled sample `name` in the pod's GET /metrics; None if absent."""
    client = HttpClient(port, 30.0)
    try:
        status, body = client.send(Request(method="GET", path="/metrics"))
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    for line in body.decode().splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name:
            return float(value)
    return None


def start_pod(pod_dir: Path, env: dict[str, str], log: Path) -> Server:
    """A compiled pod under uvicorn, exactly as its Dockerfile runs it, on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
    argv.append("--no-access-log")
    return Server(pod_dir.name, argv, port, pod_dir, env, log)


def roapi_binary() -> str:
    """The roapi executable (the PyPI package `roapi` installs it next to Python)."""
    beside = Path(sys.executable).parent / "roapi"
    found = str(beside) if beside.exists() else shutil.which("roapi")
    if not found:
        raise SystemExit(
            "bench: the roapi binary is missing; install it with "
            f"`{sys.executable} -m pip install roapi` (or `make .venv/.installed-stamp`), "
            "or skip it with --no-roapi"
        )
    return found


def start_roapi(table: str, data_dir: Path, log: Path) -> Server:
    """ROAPI serving every Parquet file under `data_dir` as `table`, HTTP on a free port."""
    port = free_port()
    argv = [
        roapi_binary(),
        "--addr-http",
        f"127.0.0.1:{port}",
        # Its other endpoints also stay on loopback, on ports the system picks.
        "--addr-postgres",
        "127.0.0.1:0",
        "--addr-flight-sql",
        "127.0.0.1:0",
        "--table",
        f"{table}={data_dir},format=parquet",
    ]
    return Server("roapi", argv, port, data_dir, {"RUST_LOG": "warn"}, log)
