"""Where one analysis spends its time: wall-clock seconds of its phases, run in this process.

Usage: ``python benchmarks/phases.py models/adverse_events_rate_exnex.toml [more specs]``

Each spec is run by :func:`bayes_il2.pipeline.run_analysis` in this process (no outcome children,
results into a temporary folder that is removed afterwards) with timers wrapped around the phases
below. Seconds are inclusive (a phase that calls another counts its time too) and summed over calls;
the line reads ``phase=seconds/calls``. Used for the per-phase table of benchmarks/results.md
(issue #19).
"""
from __future__ import annotations

import argparse
import collections
import functools
import importlib
import tempfile
import time
from pathlib import Path

# Modules that bind a phase's name at import (``from x import f``) must be imported after it is
# wrapped: the lower layers first, the pipeline last.
PHASES = (
    ("bayes_il2.processes", "release_memory"),
    ("bayes_il2.compile_cache", "_compile_cached"),
    ("nutpie.compile_pymc", "_make_functions"),
    ("nutpie.sample", "_BackgroundSampler.wait"),
    ("pymc.stats.log_density", "compute_log_density"),
    ("bayes_il2.inference", "CompiledSampler._sample"),
    ("bayes_il2.inference", "add_posterior_predictive"),
    ("bayes_il2.fit", "Fit.to_netcdf"),
    ("bayes_il2.diagnostics", "diagnose"),
    ("bayes_il2.pipeline", "fit_table"),
    ("bayes_il2.pipeline", "run_sensitivity"),
    ("bayes_il2.pipeline", "build_effects"),
    ("bayes_il2.pipeline", "write_analysis"),
)

seconds: collections.Counter = collections.Counter()
calls: collections.Counter = collections.Counter()


def _time_phase(module_name: str, attribute: str) -> None:
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[attribute] += time.perf_counter() - start
            calls[attribute] += 1

    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", type=Path)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    for module_name, attribute in PHASES:
        _time_phase(module_name, attribute)
    from bayes_il2 import pipeline
    from bayes_il2.evidence import load_registry
    from bayes_il2.specs import load_spec

    registry = load_registry()
    for path in args.specs:
        spec = load_spec(path)
        seconds.clear()
        calls.clear()
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            pipeline.run_analysis(spec, registry, Path(out), target=Path(out) / spec.name)
            wall = time.perf_counter() - start
        phases = " ".join(f"{name.split('.')[-1]}={value:.1f}/{calls[name]}" for name, value in seconds.most_common())
        print(f"{spec.name} wall={wall:.1f} {phases}", flush=True)


if __name__ == "__main__":
    main()
