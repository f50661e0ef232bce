"""datapic's benchmark (issue 3): a compiled pod against DuckDB on the same files, the naive
full scan and ROAPI, on a local Iceberg table; then the pod's latency as the table grows, and
over equality deletes against DuckDB over the compacted files (issue 9).

    python bench/run.py [--rows N] [--quick] [--rounds R] [--scales 4,16] [--no-roapi]

Builds (or reuses) the tables under .bench/, compiles the pods with `datapic compile`, runs
every server on 127.0.0.1, prints the figures and writes .bench/results-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import dataclasses
import datetime as dt
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from capacity import MEMORY_ENV, Served, Settling, memory_under_load, throughput
from contenders import (
    CACHED_FOOTERS,
    FLOORS,
    POD_READ_SETTINGS,
    DuckDBDirect,
    FloorContender,
    Naive,
    PodContender,
    RoapiContender,
    answers_differ,
    data_directory,
    pruned_files,
    snapshot_files,
)
from eqdeletes import EqDeletes, ensure_eqdeletes
from load import FRESH, LARGE, measure_load
from measure import Entry, in_bursts, round_robin
from pyiceberg.catalog import Catalog
from queries import (
    Case,
    Compiled,
    cases,
    compile_pods,
    eqdeletes_case,
    fresh_case,
    large_case,
    load_compiled,
)
from report import (
    issue11_figures,
    machine,
    overhead_figures,
    ratios,
    render,
    targets,
    verdicts,
    write_json,
)
from servers import Request, Server, metric, roapi_binary, start_pod, start_roapi
from table import Build, Lakehouse, ensure_lakehouse, table_name

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 300.0
# Calls in a row per contender and round in the overhead step (the first one kept apart).
OVERHEAD_BURST = 5
# Rounds of the overhead step per --rounds: its row is a difference of two medians of about
# 20 ms judged against 2 ms, and at 30 rounds (120 warm calls each) it moved between +1.1 and
# +2.6 ms from run to run on unchanged code.
OVERHEAD_ROUNDS_PER_ROUND = 2
# The reduction pod over the table with equality deletes (issue 9).
EQDEL = ("eqdeletes", 1, False)


def progress(message: str) -> None:
    """One progress line, flushed (the build and the runs are long)."""
    print(message, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; --quick shrinks every default, explicit flags still win."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows of the base table (default 10,000,000)")
    parser.add_argument("--quick", action="store_true", help="a small, short run")
    parser.add_argument("--rounds", type=int, help="timed rounds per contender (default 30)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first (default 2)")
    parser.add_argument("--naive-samples", type=int, help="timed naive calls (default 5)")
    parser.add_argument(
        "--cold-runs", type=int, help="pod launches timed per query (default 3; 0: none)"
    )
    parser.add_argument(
        "--scales", default="4,16", help="table sizes of the scaling run ('' for none)"
    )
    parser.add_argument("--no-roapi", action="store_true", help="leave ROAPI out")
    parser.add_argument("--load-clients", type=int, help="clients of the slow-client run (50)")
    parser.add_argument("--many-clients", type=int, help="clients on the reduction pod (100)")
    parser.add_argument("--load-seconds", type=float, help="seconds of each load run (8)")
    parser.add_argument(
        "--large-clients", type=int, help="clients of the slow-client run on a large answer (20)"
    )
    parser.add_argument(
        "--fresh-seconds",
        type=float,
        default=2.0,
        help="freshness of the pod whose catalog loads are counted under load (2)",
    )
    parser.add_argument(
        "--settle-seconds", type=float, help="idle seconds before the memory pod's RSS is read (60)"
    )
    parser.add_argument(
        "--throughput-clients", type=int, help="clients of the pod-against-ROAPI throughput (8)"
    )
    parser.add_argument(
        "--throughput-seconds", type=float, help="seconds of each of its 2 slices per server (4)"
    )
    parser.add_argument("--root", type=Path, default=ROOT / ".bench", help="work directory")
    parser.add_argument(
        "--runtime",
        type=Path,
        help="a pod runtime folder (app.py + datapic_runtime/, like templates/pod) to put in "
        "every compiled pod instead of the one it was compiled with: measures a runtime under "
        "development against the same pod.json",
    )
    args = parser.parse_args(argv)
    quick = {"rows": 240_000, "rounds": 5, "warmup": 1, "naive_samples": 2, "cold_runs": 1}
    quick |= {"load_clients": 12, "many_clients": 10, "load_seconds": 1.5, "large_clients": 10}
    quick |= {"settle_seconds": 2.0, "throughput_clients": 4, "throughput_seconds": 1.0}
    full = {"rows": 10_000_000, "rounds": 30, "warmup": 2, "naive_samples": 5, "cold_runs": 3}
    full |= {"load_clients": 50, "many_clients": 100, "load_seconds": 8.0, "large_clients": 20}
    full |= {"settle_seconds": 60.0, "throughput_clients": 8, "throughput_seconds": 4.0}
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
    eqdel = ensure_eqdeletes(lakehouse, progress)
    compiled = compile_all(lakehouse, eqdel, args.root / "pods", args.runtime, args.fresh_seconds)
    with servers_stopped_at_exit() as servers:
        results = measure_all(args, lakehouse, eqdel, compiled, servers)
    problems = agreement_problems(results)
    results["problems"] = problems
    print(render(results), end="")
    path = write_json(results, args.root)
    progress(f"results written to {path}")
    return 1 if problems else 0


def compile_all(
    lakehouse: Lakehouse, eqdel: EqDeletes, out: Path, runtime: Path | None, fresh: float
) -> dict[tuple[str, int, bool], Compiled]:
    """Every pod of the run, compiled by the datapic CLI: (query, scale, cached) -> pod;
    with `runtime`, each pod's runtime replaced by that one."""
    shutil.rmtree(out, ignore_errors=True)
    wanted = {}
    for case in cases():
        for scale in lakehouse.tables:
            wanted[(case.key, scale, False)] = case
        if case.key == "reduction":
            wanted[(case.key, 1, True)] = case
    wanted[EQDEL] = eqdeletes_case(eqdel.eqdel_table)
    wanted[FRESH] = fresh_case(fresh)
    wanted[LARGE] = large_case()
    specs = {
        _pod_name(case, scale, cached): case.spec_for(scale, cached)
        for (_, scale, cached), case in wanted.items()
    }
    progress(f"compile: {len(specs)} pods with datapic compile")
    compile_pods(specs, out)
    if runtime:
        for name in specs:
            replace_runtime(out / name, runtime)
        progress(f"compile: runtime replaced by {runtime}")
    for name in specs:
        # As the pod's image is built (`python -m compileall -q /pod` in its Dockerfile): a
        # launch then reads the runtime's bytecode. Without it, under PYTHONDONTWRITEBYTECODE
        # every launch compiled the runtime from source, a cost no deployed pod pays (about
        # 0.05 CPU s of each cold start measured).
        compileall.compile_dir(out / name, quiet=1)
    return {
        key: load_compiled(case, out / _pod_name(case, key[1], key[2]))
        for key, case in wanted.items()
    }


def replace_runtime(pod_dir: Path, runtime: Path) -> None:
    """Put `runtime`'s app.py and datapic_runtime/ into `pod_dir` (pod.json stays)."""
    if not (runtime / "datapic_runtime").is_dir() or not (runtime / "app.py").is_file():
        raise SystemExit(f"bench: --runtime {runtime} has no app.py and datapic_runtime/")
    shutil.rmtree(pod_dir / "datapic_runtime")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(runtime / "datapic_runtime", pod_dir / "datapic_runtime", ignore=ignore)
    shutil.copy2(runtime / "app.py", pod_dir / "app.py")


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
    eqdel: EqDeletes,
    compiled: dict[tuple[str, int, bool], Compiled],
    servers: list[Server],
) -> dict:
    """Start the servers, time everything, return the results (figures, not yet judged)."""
    logs = args.root / "logs"
    logs.mkdir(exist_ok=True)
    catalog = lakehouse.catalog()
    files = snapshot_files(catalog, table_name(1))
    keys = [case.key for case in cases()]
    pods, figures = start_measured_pods(args, lakehouse.env, compiled, servers, logs)
    pods.update(start_other_pods(args, lakehouse.env, compiled, servers, logs))
    roapi = None if args.no_roapi else start_roapi_server(files, compiled, servers, logs)

    entries = []
    for key in keys:
        contenders = [PodContender("pod", pods[(key, 1, False)], compiled[(key, 1, False)])]
        if (key, 1, True) in pods:
            cached = compiled[(key, 1, True)]
            contenders.append(PodContender("pod cached", pods[(key, 1, True)], cached))
        contenders.append(DuckDBDirect.over(files, compiled[(key, 1, False)]))
        contenders.append(Naive.over(catalog, table_name(1), compiled[(key, 1, False)]))
        if roapi:
            contenders.append(RoapiContender(roapi, compiled[(key, 1, False)], "orders"))
        for contender in contenders:
            samples = args.naive_samples if contender.name == "naive" else args.rounds
            label = f"{key}|{contender.name}"
            entries.append(Entry(label=label, timed=contender, samples=samples))
    progress(f"latency: {args.rounds} rounds over {len(entries)} contenders, round-robin")
    latency: dict[str, dict[str, dict]] = {key: {} for key in keys}
    for label, samples in round_robin(entries, args.rounds, args.warmup, progress).items():
        key, name = label.split("|")
        latency[key][name] = samples.stats()
    pruned = {key: pruned_files(catalog, table_name(1), compiled[(key, 1, False)]) for key in keys}
    overhead = measure_overhead(args, compiled, pods, pruned)

    for (key, scale, cached), server in pods.items():
        if scale == 1 and (key, scale, cached) != EQDEL:  # its figure comes after its run
            name = f"pod {key}{' cached' if cached else ''}"
            figures.setdefault(name, {"pid": server.pid})["peak_rss_mb"] = server.peak_rss_mb()
    issue11 = {"pruned_files": pruned_file_counts(pruned, pods, compiled)}
    issue11["throughput"] = measure_throughput(args, compiled, pods, roapi)
    if roapi:
        figures["roapi"] = {**roapi_figures(roapi), "peak_rss_mb": roapi.peak_rss_mb()}
        roapi.stop()  # its memory is not needed for the scaling run

    scaling = measure_scaling(args, compiled, pods)
    latency["eqdeletes"], eqdel_figures = measure_eqdeletes(args, catalog, eqdel, compiled, pods)
    figures["pod eqdeletes"] = {"pid": pods[EQDEL].pid, "peak_rss_mb": pods[EQDEL].peak_rss_mb()}
    memory = start_memory_row(args, lakehouse.env, compiled, servers, logs)
    progress(
        f"load: {args.load_clients}, {args.large_clients} and {args.many_clients} clients, "
        f"{args.load_seconds} s each; the memory pod settles {args.settle_seconds} s meanwhile"
    )
    load = measure_load(args, compiled, pods, memory)
    figures["pod projection memory"] = {"pid": memory.server.pid}
    found = ratios(latency, scaling)
    found |= overhead_figures(overhead)
    found |= issue11_figures(load, issue11["throughput"])
    for key in keys:
        for figure in ("cold_start_s", "peak_rss_mb"):
            if figures[f"pod {key}"].get(figure) is not None:
                found[f"{key}.{figure}"] = figures[f"pod {key}"][figure]
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
            "runtime": str(args.runtime) if args.runtime else "as compiled",
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
        "overhead": overhead,
        "servers": figures,
        "scaling": scaling,
        "eqdeletes": eqdel_figures,
        "load": load,
        "issue11": issue11,
        "ratios": found,
        "targets": verdicts(found, targets(keys)),
    }


def start_measured_pods(args, env, compiled, servers, logs) -> tuple[dict, dict]:
    """The 1x pod of each query, launched `cold_runs` times one after the other (each timed
    from launch to first answer); the last launch stays up for the warm runs."""
    pods: dict[tuple[str, int, bool], Server] = {}
    figures: dict[str, dict] = {}
    if args.cold_runs < 1:
        return pods, figures
    for case in cases():
        pod = compiled[(case.key, 1, False)]
        cold, cpu = [], []
        for run in range(args.cold_runs):
            log = logs / f"{case.key}-{run}.log"
            server = _launch(servers, start_pod(pod.pod_dir, env, log))
            cold.append(server.wait_for_answer(_get(pod), START_TIMEOUT))
            # The CPU it took: unlike the wall time, hardly changed by a busy machine.
            cpu.append(server.cpu_seconds())
            progress(
                f"cold start: {case.key} pod answered {cold[-1]:.2f} s after launch "
                f"({cpu[-1]:.2f} CPU s)"
            )
            if run < args.cold_runs - 1:
                server.stop()
        pods[(case.key, 1, False)] = server
        figures[f"pod {case.key}"] = {
            "cold_start_s": sorted(cold)[len(cold) // 2],
            "cold_runs_s": cold,
            "cold_start_cpu_s": sorted(cpu)[len(cpu) // 2],
            "pid": server.pid,
        }
    return pods, figures


def start_other_pods(args, env, compiled, servers, logs) -> dict:
    """The pods whose start-up is not measured, started together: the cached reduction, the
    reduction over equality deletes, issue 11's pods (short freshness, large answer) and the
    pods over the bigger tables for the scaling run."""
    keys = [key for key in compiled if key[2]] + [EQDEL, FRESH, LARGE]
    keys += [(case.key, scale, False) for case in cases() for scale in args.scales]
    if args.cold_runs == 0:  # start-up not measured: the 1x pods start with the others
        keys += [(case.key, 1, False) for case in cases()]
    pods = {}
    for key in keys:
        name = compiled[key].pod_dir.name
        pods[key] = _launch(servers, start_pod(compiled[key].pod_dir, env, logs / f"{name}.log"))
    for key in keys:
        pods[key].wait_for_answer(_get(compiled[key]), START_TIMEOUT)
    progress(f"started {len(keys)} more pods")
    return pods


def start_memory_row(args, env, compiled, servers, logs) -> Settling:
    """A projection pod of its own, with the query memory set (capacity.MEMORY_ENV), warmed,
    then `many_clients` for `load_seconds`; its RSS is read again `settle_seconds` later."""
    pod = compiled[("projection", 1, False)]
    log = logs / "projection-memory.log"
    server = _launch(servers, start_pod(pod.pod_dir, {**env, **MEMORY_ENV}, log))
    server.wait_for_answer(_get(pod), START_TIMEOUT)
    progress(f"memory: {args.many_clients} clients on a projection pod of its own")
    return memory_under_load(
        server, _get(pod), args.many_clients, args.load_seconds, args.settle_seconds
    )


def measure_throughput(args, compiled, pods, roapi: Server | None) -> dict:
    """The uncached reduction pod against ROAPI (when it runs), the same clients and query."""
    key = ("reduction", 1, False)
    served = [Served(name="pod", server=pods[key], request=_get(compiled[key]))]
    if roapi is not None:
        body = compiled[key].literal_sql("orders").encode()
        request = Request(method="POST", path="/api/sql", body=body)
        served.append(Served(name="roapi", server=roapi, request=request))
    progress(
        f"throughput: {args.throughput_clients} clients, 2 slices of "
        f"{args.throughput_seconds} s per server, alternating"
    )
    return throughput(served, args.throughput_clients, args.throughput_seconds, 2, progress)


def measure_overhead(args, compiled, pods, pruned: dict[str, list[str]]) -> dict:
    """Issue 11: the pod against DuckDB over the files it reads (`duckdb pruned`, and the same
    with the pod's footer cache), and the pod's routes that query nothing, in bursts of
    OVERHEAD_BURST calls (measure.in_bursts: none pays for having sat idle while another
    ran), OVERHEAD_ROUNDS_PER_ROUND times --rounds rounds; per query, each contender's warm
    calls and first calls."""
    rounds = args.rounds * OVERHEAD_ROUNDS_PER_ROUND
    entries = []
    for key, files in pruned.items():
        pod, query = pods[(key, 1, False)], compiled[(key, 1, False)]
        contenders = [
            PodContender("pod", pod, query),
            DuckDBDirect.over(files, query, "duckdb pruned"),
            DuckDBDirect.over(files, query, CACHED_FOOTERS, POD_READ_SETTINGS),
            *(FloorContender(name, pod, path) for name, path in FLOORS.items()),
        ]
        entries += [Entry(label=f"{key}|{c.name}", timed=c, samples=rounds) for c in contenders]
    progress(
        f"overhead: {rounds} rounds over {len(entries)} contenders, bursts of "
        f"{OVERHEAD_BURST} calls"
    )
    overhead: dict[str, dict[str, dict]] = {key: {} for key in pruned}
    for label, burst in in_bursts(entries, rounds, OVERHEAD_BURST, progress).items():
        key, name = label.split("|")
        overhead[key][name] = {"warm": burst.warm.stats(), "first": burst.first.stats()}
    return overhead


def pruned_file_counts(pruned: dict[str, list[str]], pods, compiled) -> dict:
    """Per query: the files `duckdb pruned` reads and the files the pod read for one request
    (its /metrics before and after); they must be the same number."""
    counts = {}
    for key, files in pruned.items():
        server = pods[(key, 1, False)]
        before = metric(server.port, "datapic_files_scanned_total")
        PodContender("probe", server, compiled[(key, 1, False)]).run()
        after = metric(server.port, "datapic_files_scanned_total")
        read = None if before is None or after is None else int(after - before)
        counts[key] = {"duckdb_pruned": len(files), "pod": read}
    return counts


def start_roapi_server(files, compiled, servers, logs) -> Server:
    """ROAPI over the directory holding exactly the snapshot's files, timed to first answer."""
    data_dir = data_directory(files)
    on_disk = len(list(data_dir.rglob("*.parquet")))
    if on_disk != len(files):
        raise RuntimeError(f"{data_dir} holds {on_disk} files, the snapshot {len(files)}")
    roapi = _launch(servers, start_roapi("orders", data_dir, logs / "roapi.log"))
    first = compiled[("reduction", 1, False)].literal_sql("orders").encode()
    request = Request(method="POST", path="/api/sql", body=first)
    roapi.cold_start_s = roapi.wait_for_answer(request, START_TIMEOUT)
    progress(f"cold start: roapi answered {roapi.cold_start_s:.2f} s after launch")
    return roapi


def roapi_figures(roapi: Server) -> dict:
    """ROAPI's start-up figures (its memory is read separately, after the warm runs)."""
    return {"cold_start_s": roapi.cold_start_s, "pid": roapi.pid}


def measure_scaling(
    args: argparse.Namespace,
    compiled: dict[tuple[str, int, bool], Compiled],
    pods: dict[tuple[str, int, bool], Server],
) -> dict:
    """The pod's latency over the 1x, 4x, 16x tables (same selected rows), round-robin."""
    if not args.scales:
        return {}
    keys = [case.key for case in cases()]
    entries = [
        Entry(
            label=f"{key}|{scale}x",
            timed=PodContender("pod", pods[(key, scale, False)], compiled[(key, scale, False)]),
            samples=args.rounds,
        )
        for key in keys
        for scale in (1, *args.scales)
    ]
    sizes = ", ".join(f"{scale}x" for scale in (1, *args.scales))
    progress(f"scaling: {args.rounds} rounds over the pods at {sizes}")
    timed = round_robin(entries, args.rounds, args.warmup, progress)
    scaling: dict[str, dict[str, dict]] = {key: {} for key in keys}
    for label, samples in timed.items():
        key, scale = label.split("|")
        pod = pods[(key, int(scale[:-1]), False)]
        scaling[key][scale] = {
            **samples.stats(),
            "table_rows": args.rows * int(scale[:-1]),
            "peak_rss_mb": pod.peak_rss_mb(),
        }
    return scaling


def measure_eqdeletes(
    args: argparse.Namespace,
    catalog: Catalog,
    eqdel: EqDeletes,
    compiled: dict[tuple[str, int, bool], Compiled],
    pods: dict[tuple[str, int, bool], Server],
) -> tuple[dict[str, dict], dict]:
    """Issue 9: the reduction pod over the table with equality deletes against DuckDB over the
    compacted table's files (the same surviving rows), round-robin, with the plain pod (the
    same data files, no deletes) to show what applying the deletes costs the pod; the pod's
    answer compared with DuckDB's value by value first."""
    pod = PodContender("pod", pods[EQDEL], compiled[EQDEL])
    files = snapshot_files(catalog, eqdel.compacted_table)
    compacted = DuckDBDirect.over(files, compiled[EQDEL], name="duckdb compacted")
    reduction = ("reduction", 1, False)
    plain = PodContender("pod plain", pods[reduction], compiled[reduction])
    differ = answers_differ(pod, compacted)
    entries = [Entry(label=c.name, timed=c, samples=args.rounds) for c in (pod, compacted, plain)]
    progress(
        f"equality deletes: {args.rounds} rounds, the pod over {eqdel.eqdel_table} "
        f"({eqdel.deleted:,} of {eqdel.rows:,} rows deleted) against DuckDB over "
        f"{eqdel.compacted_table}'s {len(files)} files"
    )
    timed = round_robin(entries, args.rounds, args.warmup, progress)
    figures = {
        **dataclasses.asdict(eqdel),
        "values_differ": differ,
    }
    return {name: samples.stats() for name, samples in timed.items()}, figures


def agreement_problems(results: dict) -> list[str]:
    """Every contender must have answered each query with the same number of rows, always;
    the pod over equality deletes with the same values as DuckDB over the compacted files."""
    problems = []
    for key, by in results["latency"].items():
        seen = {name: tuple(stats.get("rows", ())) for name, stats in by.items()}
        for name, burst in results["overhead"].get(key, {}).items():
            if name not in FLOORS:
                rows = {*burst["warm"].get("rows", ()), *burst["first"].get("rows", ())}
                seen[f"{name} (bursts)"] = tuple(sorted(rows))
        for scale, stats in results["scaling"].get(key, {}).items():
            seen[f"pod {scale}"] = tuple(stats.get("rows", ()))
        if len(set(seen.values())) != 1 or any(len(rows) != 1 for rows in seen.values()):
            problems.append(f"{key}: the answers' row counts differ: {seen}")
    for key, counts in results["issue11"]["pruned_files"].items():
        if counts["pod"] is not None and counts["pod"] != counts["duckdb_pruned"]:
            problems.append(f"{key}: the pod read {counts['pod']} files, duckdb pruned {counts}")
    if differ := results.get("eqdeletes", {}).get("values_differ"):
        problems.append(f"eqdeletes: the pod's answer differs from the compacted table's: {differ}")
    return problems


def _get(compiled: Compiled) -> Request:
    return Request(method="GET", path=compiled.path)


def _launch(servers: list[Server], server: Server) -> Server:
    servers.append(server)
    return server


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    progress(f"bench: done in {time.monotonic() - started:.0f} s")
    sys.exit(code)
