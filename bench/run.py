"""datapic's benchmark (issue 3): a compiled pod against DuckDB on the same files, the naive
full scan and ROAPI, on a local Iceberg table; then the pod's latency as the table grows.

    python bench/run.py [--rows N] [--quick] [--rounds R] [--scales 4,16] [--no-roapi]

Builds (or reuses) the tables under .bench/, compiles the pods with `datapic compile`, runs
every server on 127.0.0.1, prints the figures and writes .bench/results-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from contenders import (
    DuckDBDirect,
    Naive,
    PodContender,
    RoapiContender,
    data_directory,
    snapshot_files,
)
from measure import Entry, round_robin
from queries import Case, Compiled, cases, compile_pods, load_compiled
from report import machine, ratios, render, targets, verdicts, write_json
from servers import Request, Server, roapi_binary, start_pod, start_roapi
from table import Build, Lakehouse, ensure_lakehouse, table_name

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 300.0


def progress(message: str) -> None:
    """One progress line, flushed (the build and the runs are long)."""
    print(message, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; --quick shrinks every default, explicit flags still win."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows of the base table (default 10,000,000)")
    parser.add_argument("--quick", action="store_true", help="a small, short run")
    parser.add_argument("--rounds", type=int, help="timed rounds per contender (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--naive-samples", type=int, help="timed naive calls (default 5)")
    parser.add_argument("--cold-runs", type=int, help="pod launches timed per query (default 3)")
    parser.add_argument(
        "--scales", default="4,16", help="table sizes of the scaling run ('' for none)"
    )
    parser.add_argument("--no-roapi", action="store_true", help="leave ROAPI out")
    parser.add_argument("--root", type=Path, default=ROOT / ".bench", help="work directory")
    args = parser.parse_args(argv)
    quick = {"rows": 240_000, "rounds": 5, "naive_samples": 2, "cold_runs": 1}
    full = {"rows": 10_000_000, "rounds": 30, "naive_samples": 5, "cold_runs": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.scales = tuple(sorted({int(s) for s in args.scales.split(",") if s.strip()} - {1}))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the whole bench; exit code 1 when the contenders' answers disagree."""
    args = parse_args(argv)
    if not args.no_roapi:
        roapi_binary()  # fail now, not after the long build
    args.root.mkdir(parents=True, exist_ok=True)
    lakehouse = ensure_lakehouse(args.root, Build(rows=args.rows, scales=args.scales), progress)
    compiled = compile_all(lakehouse, args.root / "pods")
    with servers_stopped_at_exit() as servers:
        results = measure_all(args, lakehouse, compiled, servers)
    problems = agreement_problems(results)
    results["problems"] = problems
    print(render(results), end="")
    path = write_json(results, args.root)
    progress(f"results written to {path}")
    return 1 if problems else 0


def compile_all(lakehouse: Lakehouse, out: Path) -> dict[tuple[str, int, bool], Compiled]:
    """Every pod of the run, compiled by the datapic CLI: (query, scale, cached) -> pod."""
    shutil.rmtree(out, ignore_errors=True)
    wanted = {}
    for case in cases():
        for scale in lakehouse.tables:
            wanted[(case.key, scale, False)] = case
        if case.key == "reduction":
            wanted[(case.key, 1, True)] = case
    specs = {
        _pod_name(case, scale, cached): case.spec_for(scale, cached)
        for (_, scale, cached), case in wanted.items()
    }
    progress(f"compile: {len(specs)} pods with datapic compile")
    compile_pods(specs, out)
    return {
        key: load_compiled(case, out / _pod_name(case, key[1], key[2]))
        for key, case in wanted.items()
    }


def _pod_name(case: Case, scale: int, cached: bool) -> str:
    return case.spec_for(scale, cached)["resource_name"]


@contextlib.contextmanager
def servers_stopped_at_exit() -> Iterator[list[Server]]:
    """A list to put started servers in; each is stopped (by its own pid) however we leave."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def measure_all(
    args: argparse.Namespace,
    lakehouse: Lakehouse,
    compiled: dict[tuple[str, int, bool], Compiled],
    servers: list[Server],
) -> dict:
    """Start the servers, time everything, return the results (figures, not yet judged)."""
    logs = args.root / "logs"
    logs.mkdir(exist_ok=True)
    env = lakehouse.env
    catalog = lakehouse.catalog()
    files = snapshot_files(catalog, table_name(1))
    keys = [case.key for case in cases()]
    server_figures: dict[str, dict] = {}

    pods: dict[tuple[str, int, bool], Server] = {}
    for key in keys:
        pod = compiled[(key, 1, False)]
        cold = []
        for run in range(args.cold_runs):
            server = _launch(servers, start_pod(pod.pod_dir, env, logs / f"{key}-{run}.log"))
            cold.append(server.wait_for_answer(_get(pod), START_TIMEOUT))
            progress(f"cold start: {key} pod answered {cold[-1]:.2f} s after launch")
            if run < args.cold_runs - 1:
                server.stop()
        pods[(key, 1, False)] = server
        server_figures[f"pod {key}"] = {"cold_start_s": sorted(cold)[len(cold) // 2], "cold_runs_s": cold}
    cached = compiled[("reduction", 1, True)]
    pods[("reduction", 1, True)] = _started_pod(servers, cached, env, logs / "reduction-cached.log")

    roapi = None
    if not args.no_roapi:
        data_dir = data_directory(files)
        on_disk = len(list(data_dir.rglob("*.parquet")))
        if on_disk != len(files):
            raise RuntimeError(f"{data_dir} holds {on_disk} files, the snapshot {len(files)}")
        roapi = _launch(servers, start_roapi("orders", data_dir, logs / "roapi.log"))
        first = compiled[("reduction", 1, False)].literal_sql("orders").encode()
        cold = roapi.wait_for_answer(Request(method="POST", path="/api/sql", body=first), START_TIMEOUT)
        progress(f"cold start: roapi answered {cold:.2f} s after launch")
        server_figures["roapi"] = {"cold_start_s": cold}

    entries = []
    for key in keys:
        pod = compiled[(key, 1, False)]
        contenders = [PodContender("pod", pods[(key, 1, False)], pod)]
        if key == "reduction":
            contenders.append(PodContender("pod cached", pods[(key, 1, True)], cached))
        contenders.append(DuckDBDirect.over(files, pod))
        contenders.append(Naive.over(catalog, table_name(1), pod))
        if roapi:
            contenders.append(RoapiContender(roapi, pod, "orders"))
        for contender in contenders:
            samples = args.naive_samples if contender.name == "naive" else args.rounds
            entries.append(Entry(label=f"{key}|{contender.name}", call=contender.run, samples=samples))
    progress(f"latency: {args.rounds} rounds over {len(entries)} contenders, round-robin")
    timed = round_robin(entries, args.rounds, args.warmup, progress)
    latency: dict[str, dict[str, dict]] = {key: {} for key in keys}
    for label, samples in timed.items():
        key, name = label.split("|")
        latency[key][name] = samples.stats()

    for key in keys:
        server_figures[f"pod {key}"]["peak_rss_mb"] = pods[(key, 1, False)].peak_rss_mb()
    server_figures["pod reduction cached"] = {"peak_rss_mb": pods[("reduction", 1, True)].peak_rss_mb()}
    if roapi:
        server_figures["roapi"]["peak_rss_mb"] = roapi.peak_rss_mb()
        roapi.stop()  # its memory is not needed for the scaling run

    scaling = measure_scaling(args, lakehouse, compiled, pods, servers, logs)
    figures = ratios(latency, scaling)
    for key in keys:
        for figure in ("cold_start_s", "peak_rss_mb"):
            value = server_figures[f"pod {key}"].get(figure)
            if value is not None:
                figures[f"{key}.{figure}"] = value
    return {
        "rows": args.rows,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "warmup": args.warmup,
            "naive_samples": args.naive_samples,
            "cold_runs": args.cold_runs,
            "scales": list(args.scales),
            "data_files": len(files),
        },
        "queries": {
            key: {
                "title": compiled[(key, 1, False)].case.title,
                "args": compiled[(key, 1, False)].case.args,
                "sql": compiled[(key, 1, False)].sql,
            }
            for key in keys
        },
        "latency": latency,
        "servers": server_figures,
        "scaling": scaling,
        "ratios": figures,
        "targets": verdicts(figures, targets(keys)),
    }


def measure_scaling(args, lakehouse, compiled, pods, servers, logs) -> dict:
    """The pod's latency over the 1x, 4x, 16x tables (same selected rows), round-robin."""
    if not args.scales:
        return {}
    env = lakehouse.env
    keys = [case.key for case in cases()]
    launched = {
        (key, scale): _launch(
            servers, start_pod(compiled[(key, scale, False)].pod_dir, env, logs / f"{key}-x{scale}.log")
        )
        for key in keys
        for scale in args.scales
    }
    for (key, scale), server in launched.items():
        server.wait_for_answer(_get(compiled[(key, scale, False)]), START_TIMEOUT)
        pods[(key, scale, False)] = server
    entries = [
        Entry(
            label=f"{key}|{scale}x",
            call=PodContender("pod", pods[(key, scale, False)], compiled[(key, scale, False)]).run,
            samples=args.rounds,
        )
        for key in keys
        for scale in (1, *args.scales)
    ]
    progress(f"scaling: {args.rounds} rounds over the pods at {', '.join(f'{s}x' for s in (1, *args.scales))}")
    timed = round_robin(entries, args.rounds, args.warmup, progress)
    scaling: dict[str, dict[str, dict]] = {key: {} for key in keys}
    for label, samples in timed.items():
        key, scale = label.split("|")
        scaling[key][scale] = {**samples.stats(), "table_rows": args.rows * int(scale[:-1])}
    return scaling


def agreement_problems(results: dict) -> list[str]:
    """Every contender must have answered each query with the same number of rows, always."""
    problems = []
    for key, by in {**results["latency"]}.items():
        seen = {name: tuple(stats.get("rows", ())) for name, stats in by.items()}
        for scale, stats in results["scaling"].get(key, {}).items():
            seen[f"pod {scale}"] = tuple(stats.get("rows", ()))
        if len(set(seen.values())) != 1 or any(len(rows) != 1 for rows in seen.values()):
            problems.append(f"{key}: the answers' row counts differ: {seen}")
    return problems


def _get(compiled: Compiled) -> Request:
    return Request(method="GET", path=compiled.path)


def _launch(servers: list[Server], server: Server) -> Server:
    servers.append(server)
    return server


def _started_pod(servers: list[Server], compiled: Compiled, env: dict, log: Path) -> Server:
    server = _launch(servers, start_pod(compiled.pod_dir, env, log))
    server.wait_for_answer(_get(compiled), START_TIMEOUT)
    return server


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    progress(f"bench: done in {time.monotonic() - started:.0f} s")
    sys.exit(code)
