"""`make demo`: build the local lakehouse, compile examples/, run one pod and show its answers."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lakehouse import DEFAULT_ROOT, build_lakehouse  # noqa: E402
from podrun import running_pod  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POD = "emea-sales-by-quarter"
REQUESTS = [
    ("default parameters (region=EMEA)", "/get_data"),
    ("another region", "/get_data?region=APAC"),
    ("a bad request: an unknown parameter", "/get_data?regoin=APAC"),
]


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def fetch(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def main() -> None:
    step(f"building the local lakehouse in {DEFAULT_ROOT.relative_to(ROOT)}/ (300,000 orders)")
    env = build_lakehouse(DEFAULT_ROOT)

    step("compiling examples/*.yaml into generated/")
    datapic = Path(sys.executable).with_name("datapic")
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml"))
    subprocess.run([str(datapic), "compile", *specs, "-o", "generated"], cwd=ROOT, check=True)

    step(f"starting generated/{POD} on 127.0.0.1")
    with running_pod(ROOT / "generated" / POD, env) as url:
        print(f"serving at {url}")
        for title, path in REQUESTS:
            status, body = fetch(url + path)
            step(f"GET {path}   ({title}) -> {status}")
            print(json.dumps(body, indent=2)[:1500])
        _, spec = fetch(url + "/openapi.json")
        params = spec["paths"]["/get_data"]["get"]["parameters"]
        step("GET /openapi.json -> parameters")
        print(json.dumps(params, indent=2))
    step("pod stopped; run `make demo` again any time")


if __name__ == "__main__":
    main()
