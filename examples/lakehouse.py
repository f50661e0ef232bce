"""The repository's demo lakehouse in .lakehouse/: `compiler/lakehouse.py`'s builder (which
`datapic demo-lakehouse` runs in a project), re-exported for `make demo`, the tests and the
benchmarks, which import it from here.

    python examples/lakehouse.py [--rows N] [--root DIR] [--rebuild]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.lakehouse import (  # noqa: F401 - re-exported
    DATA_VERSION,
    PARTITIONING,
    SCHEMA,
    SEED,
    STAMP,
    build_lakehouse,
    catalog_env,
    is_built,
    open_catalog,
    orders,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = ROOT / ".lakehouse"


def main() -> None:
    """Command line: build the lakehouse and print the environment a pod needs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args()
    if args.rebuild:
        (args.root / STAMP).unlink(missing_ok=True)
    env = build_lakehouse(args.root, args.rows)
    print(f"lakehouse ready in {args.root} (sales.orders, {args.rows:,} rows); a pod needs:")
    for name, value in sorted(env.items()):
        print(f"  export {name}={value}")


if __name__ == "__main__":
    main()
