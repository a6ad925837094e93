"""``bayes-il2 simulate SPEC``: run a simulation study on Dask and write its results."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def simulate_command(args: argparse.Namespace) -> int:
    """Run one simulation study; exit code 0 on success (errors propagate to the CLI as exit 2)."""
    from bayes_il2.simulation.methods import check_available
    from bayes_il2.simulation.outputs import write_outputs
    from bayes_il2.runner import dask_client
    from bayes_il2.simulation.spec import load_simulation_spec
    from bayes_il2.simulation.study import run_study

    spec = load_simulation_spec(args.spec)
    check_available(spec.methods)  # before starting a cluster
    out = args.out if args.out is not None else Path("results") / "simulations" / spec.name
    try:
        with dask_client(args.scheduler, args.workers) as client:
            workers = len(client.scheduler_info().get("workers", {}))
            print(f"{spec.name}: {spec.replicates} replicates x {len(spec.methods)} methods per scenario on "
                  f"{workers} Dask worker(s) at {client.scheduler.address}", file=sys.stderr)
            results = run_study(spec, out, client=client, resume=args.resume)
    except KeyboardInterrupt:
        print(f"interrupted: the finished chunks are kept in {out / 'chunks'}; rerun with --resume to continue",
              file=sys.stderr)
        raise
    summary = write_outputs(spec, results, out)
    shown = summary[["k", "tau", "method", "coverage", "width", "failure_rate"]]
    if not args.quiet:
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {out}/results.parquet, summary.csv, coverage.png, width.png, index.html", file=sys.stderr)
    return 0
