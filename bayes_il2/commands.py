"""Handlers of the ``bayes-il2`` sub-commands (argument parsing lives in :mod:`bayes_il2.cli`)."""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from bayes_il2.cli import EXIT_BAD_INPUT, EXIT_DIAGNOSTICS, EXIT_OK


def _progress(quiet: bool):
    if quiet:
        return lambda message: None
    started = time.perf_counter()

    def show(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    return show


# --------------------------------------------------------------------------- run
def _run_one(spec_path: str, out: str, data: str | None, overrides: dict, quiet: bool,
             registry=None) -> dict:
    """Worker: run one spec (own process with --jobs > 1) and return a picklable summary.

    ``registry`` is the already loaded registry when the spec runs in this process; a worker
    process (``registry=None``) loads it from ``data`` itself.
    """
    from bayes_il2.evidence import load_registry
    from bayes_il2.pipeline import run_analysis
    from bayes_il2.specs import load_spec

    spec = load_spec(spec_path).with_sampler(**overrides)
    if registry is None:
        registry = load_registry(data)
    run = run_analysis(spec, registry, Path(out), progress=_progress(quiet))
    return {"name": spec.name, "status": run.status, "verdict": run.verdict, "headline": run.headline,
            "seconds": run.seconds, "error": run.error}


def run_command(args: argparse.Namespace) -> int:
    from bayes_il2.specs import discover_specs, load_spec

    spec_paths = [Path(p) for p in args.specs] or discover_specs()
    for path in spec_paths:  # validate every spec before any sampling starts
        load_spec(path)
    from bayes_il2.evidence import load_registry

    registry = load_registry(args.data)  # validates the registry once, up front
    parallel = args.jobs > 1 and len(spec_paths) > 1
    overrides = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed,
                 "sampler": args.sampler,
                 # per-chain progress bars only where they can be drawn: one process, a terminal
                 "progressbar": True if not (args.quiet or parallel) and sys.stderr.isatty() else None}
    data = str(args.data) if args.data else None
    progress = _progress(args.quiet)
    progress(f"registry {registry.version[:12]}: {len(registry.studies)} studies; {len(spec_paths)} analyses")
    started = time.perf_counter()
    if parallel:
        # Longest first (by the previous run's time, when there is one): keeps both workers busy.
        order = sorted(spec_paths, key=lambda p: -_previous_seconds(Path(args.out), load_spec(p).name))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {p: pool.submit(_run_one, str(p), str(args.out), data, overrides, args.quiet) for p in order}
            results = [futures[p].result() for p in spec_paths]
    else:
        results = [_run_one(str(p), str(args.out), data, overrides, args.quiet, registry) for p in spec_paths]
    if not args.no_report:
        from bayes_il2.reporting import write_results_report

        index = write_results_report(Path(args.out), [r["name"] for r in results], registry=registry,
                                     seconds=time.perf_counter() - started,
                                     errors={r["name"]: r["error"] for r in results if r["error"]})
        progress(f"report: {index}")
    _print_results_table(results)
    if any(r["status"] == "error" for r in results):
        return EXIT_BAD_INPUT
    if args.strict and any(r["status"] == "fail" for r in results):
        return EXIT_DIAGNOSTICS
    return EXIT_OK


def _previous_seconds(out_root: Path, name: str) -> float:
    """Run time of ``name`` recorded by an earlier run in ``out_root`` (0 when unknown)."""
    import json

    try:
        return float(json.loads((out_root / name / "run.json").read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _print_results_table(results: list[dict]) -> None:
    """One line per analysis; the headline comes last, so a long one does not widen the others."""
    rows = [(r["name"], r["status"].upper(), f"{r['seconds']:.1f}", r["headline"] or r["error"] or "")
            for r in results]
    header = ("analysis", "status", "seconds", "headline")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for name, status, seconds, headline in [header, *rows]:
        print(f"{name:<{widths[0]}}  {status:<{widths[1]}}  {seconds:>{widths[2]}}  {headline}")
    for r in results:
        if r["status"] in ("warn", "fail", "error"):
            print(f"  {r['name']}: {r['verdict']}")


# --------------------------------------------------------------------------- fit
def fit_command(args: argparse.Namespace) -> int:
    from bayes_il2.pipeline import UserTable, run_analysis
    from bayes_il2.specs import parse_spec

    tau_family, _, tau_scale = args.tau_prior.partition(":")
    tau = {"family": tau_family, "scale": float(tau_scale or 0.5)}
    if args.counts:
        from bayes_il2.userdata import read_counts_csv

        counts = read_counts_csv(args.csv)
        two_arm = "events_t" in counts.columns
        raw = {"data": {"kind": "event_contrast" if two_arm else "event_rate", "outcome": "user_events",
                        "measure": "OR" if two_arm else "PLO"},
               "model": {"family": "binomial_normal" if two_arm else "single_arm"}}
        table = counts
    else:
        from bayes_il2.userdata import read_effects_csv

        table = read_effects_csv(args.csv)
        family = args.model or ("three_level" if table["disease"].nunique() > 1 else "nnhm")
        raw = {"data": {"kind": "user_effects", "path": str(args.csv), "measure": args.measure or "MD"},
               "model": {"family": family, "covariates": list(args.covariate)}}
    name = Path(args.out).name or "user_fit"
    raw.update({"name": _safe_name(name), "title": f"Meta-analysis of {Path(args.csv).name}",
                "question": f"Pooled effect of the studies in {args.csv}", "figures": ["forest", "ppc", "pareto_k"],
                "priors": {"tau": tau}})
    if raw["model"]["family"] == "three_level":
        raw["priors"] = {"tau_within": tau, "tau_between": tau}
    spec = parse_spec(raw, source=str(args.csv)).with_sampler(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, sampler=args.sampler,
        engine=getattr(args, "engine", None))
    run = run_analysis(spec, UserTable(table), Path(args.out).parent, progress=_progress(args.quiet))
    if run.error:
        print(f"error: {run.error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from bayes_il2.reporting import write_results_report

    write_results_report(Path(args.out).parent, [spec.name], registry=None, seconds=run.seconds,
                         index_name=f"{spec.name}.html")
    _print_results_table([{"name": spec.name, "status": run.status, "verdict": run.verdict,
                           "headline": run.headline, "seconds": run.seconds, "error": None}])
    from bayes_il2.engine import engine_line

    print(engine_line(run))
    return EXIT_DIAGNOSTICS if args.strict and run.status == "fail" else EXIT_OK


def _safe_name(text: str) -> str:
    from bayes_il2._io import slug

    return slug(text) or "user_fit"


# --------------------------------------------------------------------------- data
def data_command(args: argparse.Namespace) -> int:
    from bayes_il2 import evidence

    if args.data_command == "validate":
        directory = args.directory or evidence.default_data_dir()
        problems = evidence.validate_registry(directory)
        if problems:
            print(f"{len(problems)} problem(s) in {directory}:")
            for p in problems:
                print(f"  - {p}")
            return EXIT_BAD_INPUT
        registry = evidence.load_registry(directory)
        print(f"OK: {directory} is valid (version {registry.version[:12]}; "
              f"{len(registry.studies)} studies, {len(registry.sources)} sources)")
        return EXIT_OK
    registry = evidence.load_registry(args.data)
    if args.data_command == "list":
        table = evidence.list_studies(registry)
        if args.disease:
            table = table[table["disease"] == args.disease]
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
            print(table.to_string(index=False))
        return EXIT_OK
    if args.data_command == "show":
        print(evidence.show_study(registry, args.study_id))
        return EXIT_OK
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- reanalyze
def reanalyze_command(args: argparse.Namespace) -> int:
    events = [_parse_fraction(x) for x in args.events] if args.events else None
    from bayes_il2 import reanalysis

    priors = args.prior or ["skeptical", "neutral", "enthusiastic"]
    if args.study:
        from bayes_il2.evidence import load_registry

        registry = load_registry(args.data)
        map_studies = args.map_study
        if map_studies is None and {"map", "map_robust"} & set(priors):
            map_studies = _other_responder_rcts(registry, args.study)
        result = reanalysis.reanalyze_study(registry, args.study, None, priors=priors,
                                            clinically_important_or=args.or_important, mcid=args.mcid,
                                            map_studies=map_studies)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        table = pd.concat(result.tables().values(), ignore_index=True)
    elif events:
        (et, nt), (ec, nc) = events
        endpoint = reanalysis.BinaryEndpoint(events_t=et, n_t=nt, events_c=ec, n_c=nc, name="user endpoint",
                                             higher_is_better=not args.harm)
        table = reanalysis.reanalyze(endpoint, priors, clinically_important_or=args.or_important)
    else:
        est, low, high = args.difference
        endpoint = reanalysis.ContinuousEndpoint(estimate=est, ci_low=low, ci_high=high, ci_level=0.95,
                                                 name="user endpoint", lower_is_better=args.lower_is_better)
        table = reanalysis.reanalyze(endpoint, priors, mcid=args.mcid)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    return EXIT_OK


def _other_responder_rcts(registry, study_id: str) -> list[str]:
    """Pooled RCTs other than ``study_id`` that report a two-arm responder endpoint."""
    studies = registry.studies
    rcts = set(studies.loc[(studies["design"] == "rct") & (studies["pool"] == "yes"), "study_id"]) - {study_id}
    events = registry.events
    responders = events[events["outcome"].str.startswith("responder_") & events["study_id"].isin(rcts)]
    arms_per_study = responders.groupby("study_id")["arm_id"].nunique()
    return sorted(arms_per_study[arms_per_study >= 2].index)


def _parse_fraction(text: str) -> tuple[int, int]:
    from bayes_il2.errors import ModelError

    try:
        events, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ModelError(f"--events expects counts as EVENTS/TOTAL (e.g. 20/30), got {text!r}") from None
    if not 0 <= events <= n or n == 0:
        raise ModelError(f"--events {text}: need 0 <= events <= total and total > 0")
    return events, n

