"""The benchmark program runs end to end on a tiny table: every contender answers, the answers
agree, the ratios are printed and the JSON is written. A smoke test of the program, not a timing
test: no figure is judged here (speed is what bench/ itself reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_end_to_end_and_reports_ratios(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        *("--rows", "20000", "--quick", "--rounds", "2", "--warmup", "0", "--scales", "4"),
        # Every pod starts at once (no sequential cold-start launches): the test stays short.
        *("--cold-runs", "0"),
        *("--root", str(tmp_path)),
    ]
    # Pods that never write their own bytecode, as in the image (whose build compiles it).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=180, check=False, env=env
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The pods were launched from bytecode compiled beforehand, as the image's are.
    for pod in ("bench-reduction", "bench-projection"):
        runtime = tmp_path / "pods" / pod / "datapic_runtime"
        assert {p.stem.split(".")[0] for p in (runtime / "__pycache__").glob("*.pyc")} >= {
            "server",
            "query",
        }

    for ratio in ("pod/duckdb", "naive/pod", "pod/roapi"):
        for query in ("reduction", "projection"):
            assert f"{query}.{ratio}" in result.stdout, output
    assert "reduction.scale4/scale1" in result.stdout, output
    assert "eqdeletes.pod/duckdb compacted" in result.stdout, output
    assert "equality deletes (1%)" in result.stdout, output

    [path] = tmp_path.glob("results-*.json")
    results = json.loads(path.read_text())
    assert results["rows"] == 20_000
    assert results["problems"] == []
    for query in ("reduction", "projection"):
        contenders = results["latency"][query]
        assert {"pod", "duckdb", "naive", "roapi"} <= set(contenders)
        # Issue 11's overhead step: the pod, DuckDB over the files it reads and the pod's
        # routes that query nothing, 2 x 2 rounds of bursts of 5 calls (1 first, 4 warm each).
        overhead = results["overhead"][query]
        pruned = ("pod", "duckdb pruned", "duckdb pruned, footers cached")
        floors = ("pod /healthz", "pod /readyz")
        assert set(overhead) == {*pruned, *floors}
        for name in floors:
            assert overhead[name]["warm"]["n"] == 16 and overhead[name]["first"]["n"] == 4
            assert overhead[name]["warm"]["rows"] == overhead[name]["first"]["rows"] == [0]
        assert f"{query}.floor ms (/readyz)" in results["ratios"]
        assert f"{query}.pod-pruned ms, first calls" in results["ratios"]
        # Every contender got the same, non-empty answer (row counts), every time.
        answers = [stats["rows"] for stats in contenders.values()]
        answers += [overhead[name][calls]["rows"] for name in pruned for calls in ("warm", "first")]
        [rows] = {tuple(rows) for rows in answers}
        assert len(rows) == 1 and rows[0] > 0
        assert results["scaling"][query]["4x"]["rows"] == list(rows)
    # Issue 9's row: the pod applied the equality deletes (1 % of the rows, one delete file
    # per partition) and answered with DuckDB's values over the compacted table's files.
    eqdel = results["eqdeletes"]
    assert eqdel["rows"] == 20_000 and eqdel["deleted"] == 200
    assert eqdel["delete_files"] == eqdel["data_files"] == eqdel["compacted_files"] > 1
    assert eqdel["values_differ"] is None
    contenders = results["latency"]["eqdeletes"]
    assert set(contenders) == {"pod", "duckdb compacted", "pod plain"}
    [rows] = {tuple(stats["rows"]) for stats in contenders.values()}
    assert rows == tuple(results["latency"]["reduction"]["pod"]["rows"])
    assert results["ratios"]["eqdeletes.pod/duckdb compacted"] > 0
    assert results["servers"]["pod reduction"]["peak_rss_mb"] > 0
    assert results["servers"]["roapi"]["cold_start_s"] > 0
    # Every server the bench started is gone (each was stopped by its own process group).
    # Issue 11's rows ran (tiny scale under --quick): every load run got answers.
    assert "p99 beside slow clients" in result.stdout, output
    load = results["load"]
    for run in (load["slow_clients"]["alone"], load["slow_clients"]["beside_slow"]):
        assert run["answers"] > 0
    assert load["many_clients"]["clients"] == 10 and load["many_clients"]["answers"] > 0
    # The pod counted its catalog loads (the run's first request found the table stale).
    assert load["many_clients"]["catalog_loads"] >= 1
    for run in (load["large_answer"]["alone"], load["large_answer"]["beside_slow"]):
        assert run["answers"] > 0
    assert load["large_answer"]["answer_bytes"] > load["slow_clients"]["answer_bytes"]
    memory = load["memory"]
    assert memory["answers"] > 0 and memory["idle_rss_mb"] > 0 and memory["settled_rss_mb"] > 0
    assert memory["peak_rss_mb"] >= memory["idle_rss_mb"] * 0.5
    throughput = results["issue11"]["throughput"]["by"]
    assert set(throughput) == {"pod", "roapi"}
    assert all(run["answers"] > 0 and run["cpu_s"] > 0 for run in throughput.values())
    # The pruned DuckDB contender read exactly as many files as the pod, fewer than all.
    for query in ("reduction", "projection"):
        counts = results["issue11"]["pruned_files"][query]
        assert counts["pod"] == counts["duckdb_pruned"] < results["settings"]["data_files"]
        assert f"{query}.pod-duckdb pruned ms" in results["ratios"]
    for label in ("catalog loads per period", "per core pod/roapi", "RSS settled/warm"):
        assert label in result.stdout, output
    pids = [figures["pid"] for figures in results["servers"].values()]
    # The 1x pods (reduction, projection, cached, short freshness, large answer), ROAPI, the
    # pod over equality deletes and the memory row's projection pod.
    assert len(pids) == 8
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
