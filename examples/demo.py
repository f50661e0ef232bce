"""`make demo`: build the local lakehouse, compile examples/, run one pod and show what it serves.

Safe to re-run: the lakehouse is reused when already built, generated/ is rewritten by the
compiler, and the pod listens on a free loopback port and is stopped at the end.
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

ROOT = Path(__file__).resolve().parents[1]
POD = "emea-sales-by-quarter"
ROWS = 300_000
SHOWN_ROWS = 8
REQUESTS = [
    ("/healthz", "is the pod up?"),
    ("/get_data", "no parameters: region defaults to EMEA"),
    ("/get_data?region=APAC", "a parameter"),
    ("/get_data?region=ANTARCTICA", "a region without orders: an empty answer"),
    ("/get_data?regoin=APAC", "a bad request: a misspelt parameter gets a JSON 400"),
]


def step(text: str) -> None:
    """One progress line."""
    print(f"\n==> {text}", flush=True)


def fetch(url: str) -> tuple[int, object, float]:
    """Status, decoded JSON body and milliseconds of one GET."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body), (time.perf_counter() - started) * 1000


def show(body: object) -> None:
    """The answer, one JSON row per line, shortened when long."""
    if body == []:
        print("    []")
    rows = body if isinstance(body, list) else [body]
    for row in rows[:SHOWN_ROWS]:
        print(f"    {json.dumps(row)}")
    if len(rows) > SHOWN_ROWS:
        print(f"    … {len(rows) - SHOWN_ROWS} more rows")


def compile_examples() -> None:
    """`datapic compile examples/*.yaml -o generated`, with the venv's datapic."""
    datapic = Path(sys.executable).with_name("datapic")
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml"))
    subprocess.run([str(datapic), "compile", *specs, "-o", "generated"], cwd=ROOT, check=True)


def serve(pod_dir: Path, env: dict[str, str]) -> None:
    """Start the pod, print its answers to REQUESTS, stop it."""
    log = DEFAULT_ROOT / "demo-pod.log"
    try:
        with running_pod(pod_dir, env, timeout=60, log_path=log) as url:
            print(f"    serving at {url} (pod log: {log.relative_to(ROOT)})")
            for path, title in REQUESTS:
                status, body, ms = fetch(url + path)
                step(f"GET {path}   ({title})")
                print(f"    {status} in {ms:.0f} ms")
                show(body)
    except RuntimeError as exc:
        print(f"the pod did not start: {exc}\n--- {log}\n{log.read_text()[-3000:]}")
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

    step("compiling examples/*.yaml into generated/")
    compile_examples()
    pod_dir = ROOT / "generated" / POD

    step(f"starting generated/{POD} with uvicorn on 127.0.0.1")
    serve(pod_dir, env)
    step("pod stopped; `make demo` can be run again at any time")


if __name__ == "__main__":
    main()
