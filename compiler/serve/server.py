"""Run `datapic serve`: build every pod, print their URLs, serve until Ctrl-C, reload on edits."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from ..pipeline import Result, upstreams_first
from ..scaffold.catalog import PYICEBERG_FILE
from .pods import PodBuilder, ServedPod, ServeError
from .router import PodRouter
from .watch import SpecWatcher

Echo = Callable[[str], None]


class Pods:
    """The pods being served: which spec serves which name, and the reload of one spec."""

    def __init__(self, builder: PodBuilder, router: PodRouter, echo: Echo, warn: Echo) -> None:
        self.builder, self.router, self.echo, self.warn = builder, router, echo, warn
        self.by_spec: dict[Path, str] = {}
        self._lock = threading.Lock()

    def add(self, pod: ServedPod) -> bool:
        """Serve `pod` unless another spec's pod has its name already."""
        with self._lock:
            owners = {name: spec for spec, name in self.by_spec.items() if spec != pod.spec}
            if pod.name in owners or (pod.spec is None and pod.name in self.router.names()):
                self.warn(f"{pod.directory.as_posix()}: pod '{pod.name}' is served already")
                return False
            previous = self.by_spec.get(pod.spec) if pod.spec is not None else None
            self.router.set(pod.name, pod.app)
            if previous is not None and previous != pod.name:
                self.router.remove(previous)
            if pod.spec is not None:
                self.by_spec[pod.spec] = pod.name
            return True

    def load_spec(self, spec: Path) -> ServedPod | None:
        """Compile and serve one spec; None (reported) when it does not compile or start."""
        try:
            pod = self.builder.from_spec(spec)
        except (ServeError, OSError) as exc:
            self.warn(f"error: {exc}")
            return None
        return pod if pod is not None and self.add(pod) else None

    def reload(self, spec: Path) -> None:
        """The watcher's callback: the new pod, or the previous one kept serving."""
        name = self.by_spec.get(spec)
        self.echo(f"changed {spec.as_posix()}: recompiling")
        pod = self.load_spec(spec)
        if pod is not None:
            self.echo(f"reloaded /{pod.name}/ from {spec.as_posix()}")
        elif name is not None:
            self.warn(f"kept    /{name}/ as it was: {spec.as_posix()} did not compile or start")

    def added(self, spec: Path) -> None:
        """A spec saved into a served folder: served from now on, once it compiles."""
        self.echo(f"new     {spec.as_posix()}: compiling")
        pod = self.load_spec(spec)
        if pod is not None:
            self.echo(f"serving /{pod.name}/ from {spec.as_posix()}")

    def removed(self, spec: Path) -> None:
        """A spec deleted from a served folder: its pod is no longer served."""
        with self._lock:
            name = self.by_spec.pop(spec, None)
            if name is not None:
                self.router.remove(name)
        if name is not None:
            self.echo(f"removed /{name}/: {spec.as_posix()} was deleted")


def use_project_catalog(folder: Path = Path(".")) -> None:
    """Have pyiceberg read the project's .pyiceberg.yaml before ~/.pyiceberg.yaml, unless
    PYICEBERG_HOME says where to look. Must run before pyiceberg is imported."""
    if (folder / PYICEBERG_FILE).is_file() and "PYICEBERG_HOME" not in os.environ:
        os.environ["PYICEBERG_HOME"] = str(folder.resolve())


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), so the URLs printed are the ones served and
    a request sent as soon as they are printed waits in the backlog until uvicorn accepts it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(
    specs: list[Path],
    folders: list[Path],
    pod_dirs: list[Path],
    host: str,
    port: int,
    report: Callable[[Result], bool],
    echo: Echo,
    warn: Echo,
) -> None:
    """Serve the pods of `specs` (recompiled when edited), of the specs saved into `folders`
    later, and of `pod_dirs`, until interrupted."""
    use_project_catalog()
    import uvicorn

    # Listening first: a port in use is said at once, not after every spec compiled.
    sock = listening_socket(host, port)
    with sock, tempfile.TemporaryDirectory(prefix="datapic-serve-") as workdir:
        router = PodRouter()
        pods = Pods(PodBuilder(Path(workdir), report, warn), router, echo, warn)
        base = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
        pods.builder.base_url = base  # where a pod reading a pod finds its upstream
        for directory in pod_dirs:
            pods.add(pods.builder.from_pod(directory))
        for spec in upstreams_first(specs):
            pods.load_spec(spec)
        _print_urls(base, router.names(), echo, warn)
        watcher = SpecWatcher(specs, folders, pods)
        watcher.start()
        config = uvicorn.Config(router, log_level="warning", lifespan="on")
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn shut down on Ctrl-C, then raised it again: a clean stop here
        finally:
            watcher.stop()
        echo("stopped")


def _print_urls(base: str, names: list[str], echo: Echo, warn: Echo) -> None:
    echo(f"serving {len(names)} pod(s) on {base} (Ctrl-C stops):")
    for name in names:
        echo(f"  {base}/{name}/get_data")
    if not names:
        warn("no pod compiled yet: fix the spec(s) above; serve reloads them when saved")
