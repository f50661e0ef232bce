"""`make demo`: build the local lakehouse, write .pyiceberg.yaml for it, compile examples/
checked against it, run one pod and show what it serves.

Safe to re-run: the lakehouse is reused when already built, .pyiceberg.yaml (git-ignored) is
rewritten only if it is the demo's own, generated/ is rewritten by the compiler, and the pod
listens on a free loopback port and is stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lakehouse import DEFAULT_ROOT, build_lakehouse, is_built  # noqa: E402
from podrun import running_pod  # noqa: E402

from compiler.scaffold.catalog import PYICEBERG_FILE, pyiceberg_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POD = "emea-sales-by-quarter"
# A pod that reads a pod: the downstream's answer is computed over the upstream's.
UPSTREAM, DOWNSTREAM = "large-orders", "large-orders-by-product"
DOWNSTREAM_REQUEST = "/get_data?country=DE&min_quantity=10"
PYICEBERG_YAML = ROOT / PYICEBERG_FILE
ROWS = 300_000
SHOWN_ROWS = 8
REQUESTS = [
    ("/healthz", "is the pod up?"),
    ("/readyz", "can it answer? (its table loads from the catalog)"),
    ("/get_data", "no parameters: region defaults to EMEA"),
    ("/get_data?region=APAC", "a parameter"),
    ("/get_data?region=ANTARCTICA", "a region without orders: an empty answer"),
    ("/get_data?regoin=APAC", "a bad request: a misspelt parameter gets a JSON 400"),
    ("/get_data?region=APAC&format=csv", "another format: CSV (also ndjson, arrow, parquet)"),
    ("/get_data?region=APAC&limit=3", "a page: the next one is named in X-Next-Page-Token"),
    ("/metrics", "Prometheus metrics (an excerpt)"),
]
# The lines of /metrics worth showing in a demo.
METRICS_SHOWN = ("datapic_requests_total", "datapic_result_cache", "datapic_files_")


def step(text: str) -> None:
    """One progress line."""
    print(f"\n==> {text}", flush=True)


def fetch(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, float]:
    """Status, headers, body and milliseconds of one GET."""
    started = time.perf_counter()
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    return status, headers, body, (time.perf_counter() - started) * 1000


def show(path: str, headers: dict[str, str], body: bytes) -> None:
    """The answer, one row (JSON object or CSV line) per line, shortened when long."""
    headers = {name.lower(): value for name, value in headers.items()}
    if "x-next-page-token" in headers:
        print(f"    X-Next-Page-Token: {headers['x-next-page-token'][:40]}…")
    if headers.get("content-type", "").startswith("application/json"):
        data = json.loads(body)
        lines = [json.dumps(row) for row in data] if isinstance(data, list) else [body.decode()]
    else:
        lines = body.decode().splitlines()
        if path == "/metrics":
            shown = (line for line in lines if line.startswith(METRICS_SHOWN))
            lines = [line for line in shown if "_created" not in line]
    print("    []" if not lines else "\n".join(f"    {line}" for line in lines[:SHOWN_ROWS]))
    if len(lines) > SHOWN_ROWS:
        print(f"    … and {len(lines) - SHOWN_ROWS} more")


def compile_examples() -> None:
    """`datapic compile --check examples/ -o generated`, with the venv's datapic: checked
    against the lakehouse (through .pyiceberg.yaml), so each pod.json locks its column types."""
    datapic = Path(sys.executable).with_name("datapic")
    command = [str(datapic), "compile", "--check", "examples/", "-o", "generated"]
    subprocess.run(command, cwd=ROOT, check=True)


def write_catalog_settings() -> None:
    """.pyiceberg.yaml for the lakehouse, unless the developer keeps one of their own there
    (a file datapic wrote, for this or another lakehouse, is rewritten)."""
    name = PYICEBERG_YAML.relative_to(ROOT)
    wanted = pyiceberg_yaml(DEFAULT_ROOT)
    ours = wanted.partition("\n")[0]
    if not PYICEBERG_YAML.exists() or PYICEBERG_YAML.read_text().partition("\n")[0] == ours:
        PYICEBERG_YAML.write_text(wanted)
        print(f"    wrote {name}: catalog 'default' is the lakehouse, for `datapic compile")
        print("    --check` and for pods started from here (see README, 'Your first hour')")
    else:
        print(f"    kept {name}: it is not the demo's; `--check` below uses its catalog")


def serve(pod_dir: Path, env: dict[str, str]) -> None:
    """Start the pod, print its answers to REQUESTS, stop it."""
    log = DEFAULT_ROOT / "demo-pod.log"
    try:
        with running_pod(pod_dir, env, timeout=60, log_path=log) as url:
            print(f"    serving at {url} (pod log: {log.relative_to(ROOT)})")
            for path, title in REQUESTS:
                status, headers, body, ms = fetch(url + path)
                step(f"GET {path}   ({title})")
                print(f"    {status} in {ms:.0f} ms")
                show(path, headers, body)
    except RuntimeError as exc:
        print(f"the pod did not start: {exc}\n--- {log}\n{log.read_text()[-3000:]}")
        raise SystemExit(1) from None


def serve_pod_reading_a_pod(env: dict[str, str]) -> None:
    """Start large-orders and large-orders-by-product (told the first one's URL, as Cloud Run
    is told by service.yaml), ask the second, then ask again with its ETag: a 304."""
    generated, log = ROOT / "generated", DEFAULT_ROOT / "demo-pod.log"
    try:
        with running_pod(generated / UPSTREAM, env, timeout=60, log_path=log) as upstream:
            reader_env = {**env, "DATAPIC_UPSTREAM_LARGE_ORDERS_URL": upstream}
            with running_pod(generated / DOWNSTREAM, reader_env, timeout=60) as url:
                print(f"    {UPSTREAM} at {upstream}, {DOWNSTREAM} at {url}")
                status, headers, body, ms = fetch(url + DOWNSTREAM_REQUEST)
                etag = {name.lower(): value for name, value in headers.items()}.get("etag", "")
                step(f"GET {DOWNSTREAM_REQUEST}   (it reads every page of {UPSTREAM}'s answer)")
                print(f"    {status} in {ms:.0f} ms, ETag {etag}")
                show(DOWNSTREAM_REQUEST, headers, body)
                step("the same again with If-None-Match: its ETag   (unchanged: no body)")
                status, _, body, ms = fetch(url + DOWNSTREAM_REQUEST, {"If-None-Match": etag})
                print(f"    {status} in {ms:.0f} ms, {len(body)} bytes")
    except RuntimeError as exc:
        print(f"a pod did not start: {exc}")
        raise SystemExit(1) from None


def main() -> None:
    """Run the demo end to end."""
    where = f"{DEFAULT_ROOT.relative_to(ROOT)}/"
    if is_built(DEFAULT_ROOT, ROWS):
        step(f"reusing the local lakehouse in {where} ({ROWS:,} orders in sales.orders)")
    else:
        step(f"building the local lakehouse in {where} ({ROWS:,} orders in sales.orders)")
    started = time.perf_counter()
    env = build_lakehouse(DEFAULT_ROOT, ROWS)
    print(f"    ready in {time.perf_counter() - started:.1f} s")
    write_catalog_settings()

    step("compiling examples/ into generated/, checked against the lakehouse")
    compile_examples()
    pod_dir = ROOT / "generated" / POD

    step(f"starting generated/{POD} with uvicorn on 127.0.0.1")
    serve(pod_dir, env)
    step(f"a pod that reads a pod: generated/{DOWNSTREAM} over generated/{UPSTREAM}")
    serve_pod_reading_a_pod(env)
    step("pods stopped; `make demo` can be run again at any time")


if __name__ == "__main__":
    main()
