"""Handlers of the ``bayes-il2`` sub-commands (argument parsing lives in :mod:`bayes_il2.cli`).

The handlers validate every argument before anything is loaded or compiled, print every choice
they infer from the input (and record it in run.json), write only into folders that are theirs
(:mod:`bayes_il2._io`) and stop cleanly on SIGINT/SIGTERM/SIGHUP (:mod:`bayes_il2.processes`).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd

from bayes_il2.errors import (EXIT_BAD_INPUT, EXIT_DIAGNOSTICS, EXIT_OK, Interrupted, ModelError, SpecError)
from bayes_il2.limits import YI_MAX


def _progress(quiet: bool):
    if quiet:
        return lambda message: None
    started = time.perf_counter()

    def show(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    return show


def _say(message: str) -> None:
    """A line the user must see whatever --quiet says (what was kept, what was inferred)."""
    print(message, file=sys.stderr, flush=True)


def check_sampler_args(args: argparse.Namespace) -> None:
    """Range-check the sampler options before anything is loaded (same rules as the specs)."""
    from bayes_il2.limits import sampler_problems

    given = {k: getattr(args, k, None) for k in ("draws", "tune", "chains", "seed", "target_accept", "jobs")}
    for key, message in sampler_problems(**{k: v for k, v in given.items() if v is not None}):
        raise SpecError(f"--{key.replace('_', '-')} {message}")


# --------------------------------------------------------------------------- run
def _run_one(spec_path: str, out: str, data: str | None, overrides: dict, quiet: bool,
             registry=None, inputs_key: str | None = None) -> dict:
    """Run one spec (in a worker process with --jobs > 1) and return a picklable summary.

    ``registry`` is the already loaded registry when the spec runs in this process; a worker
    process (``registry=None``) loads it from ``data`` itself. ``inputs_key`` is recorded in the
    folder for a later run's up-to-date check (:mod:`bayes_il2.freshness`).
    """
    from bayes_il2.evidence import load_registry
    from bayes_il2.pipeline import run_analysis
    from bayes_il2.specs import load_spec

    spec = load_spec(spec_path).with_sampler(**overrides)
    if registry is None:
        registry = load_registry(data)
    run = run_analysis(spec, registry, Path(out), progress=_progress(quiet), outcome_processes=True,
                       inputs_key=inputs_key)
    return {"name": spec.name, "status": run.status, "verdict": run.verdict, "headline": run.headline,
            "seconds": run.seconds, "error": run.error}


def _kept_results(specs: list, out: Path, registry, force: bool) -> tuple[list[str], dict[str, dict]]:
    """Each spec's inputs key, and the summaries of the analyses whose folders in ``out`` are up to
    date for it (:func:`bayes_il2.freshness.kept_run`; none with ``force``)."""
    from bayes_il2.freshness import inputs_key, kept_run

    keys = [inputs_key(spec, registry.version) for spec in specs]
    kept: dict[str, dict] = {}
    if force:
        return keys, kept
    for spec, key in zip(specs, keys):
        run = kept_run(out / spec.name, key)
        if run is not None:
            kept[spec.name] = {"name": spec.name, "status": run["status"], "verdict": run.get("verdict", ""),
                               "headline": run.get("headline", ""), "seconds": float(run.get("seconds", 0.0)),
                               "error": None, "kept": True}
    return keys, kept


def spec_files(paths: list[Path]) -> list[Path]:
    """The spec files named on the command line: a folder stands for every *.toml in it."""
    from bayes_il2.specs import discover_specs

    if not paths:
        return discover_specs()
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = discover_specs(path)
            if not found:
                raise SpecError(f"{path}: the folder holds no *.toml spec")
            out.extend(found)
        else:
            out.append(path)
    names = [p.stem for p in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SpecError(f"spec name(s) {', '.join(twice)} given twice; each analysis writes one folder")
    return out


def run_command(args: argparse.Namespace) -> int:
    from bayes_il2._io import prepare_root
    from bayes_il2.processes import RunStopped, TaskError, freeze_heap, run_tasks
    from bayes_il2.specs import load_spec

    check_sampler_args(args)
    spec_paths = spec_files([Path(p) for p in args.specs])
    specs = [load_spec(path) for path in spec_paths]  # every spec validated before any sampling
    overrides = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed,
                 "sampler": args.sampler}
    specs = [spec.with_sampler(**overrides) for spec in specs]  # the overrides checked before any sampling
    from bayes_il2.evidence import load_registry

    registry = load_registry(args.data)  # validates the registry once, up front
    out = prepare_root(args.out, "run")
    for spec in specs:  # refuse before any fitting when an analysis folder is not ours to replace
        from bayes_il2._io import check_replaceable

        check_replaceable(out / spec.name, "run")
    data = str(args.data) if args.data else None
    progress = _progress(args.quiet)
    progress(f"registry {registry.version[:12]}: {len(registry.studies)} studies; {len(spec_paths)} analyses; "
             f"results in {out.resolve()}")
    started = time.perf_counter()
    names = [spec.name for spec in specs]
    kept: dict[str, dict] = {}
    computed: list = []
    parallel = False
    try:
        keys, kept = _kept_results(specs, out, registry, args.force)
        if kept:
            _say(f"up to date, kept without recomputing (same spec, registry {registry.version[:12]}, package code "
                 f"and library versions; every file as written): {', '.join(kept)}; --force recomputes them")
        todo = [i for i, name in enumerate(names) if name not in kept]
        parallel = args.jobs > 1 and len(todo) > 1
        overrides["progressbar"] = True if not (args.quiet or parallel) and sys.stderr.isatty() else None
        if parallel:
            # Longest first (by the previous run's time, when there is one): keeps both workers busy.
            order = sorted(todo, key=lambda i: -_previous_seconds(out, names[i]))
            from bayes_il2.pipeline import import_for_workers

            import_for_workers()  # once here, inherited by every worker (a serial run imports as it goes)
            freeze_heap()
            tasks = [(_run_one, (str(spec_paths[i]), str(out), data, overrides, args.quiet, None, keys[i]))
                     for i in order]
            done = run_tasks(tasks, args.jobs, labels=[names[i] for i in order])
            computed = [(i, done[position]) for position, i in enumerate(order)]
        else:
            order = todo
            for i in todo:
                computed.append((i, _run_one(str(spec_paths[i]), str(out), data, overrides, args.quiet, registry,
                                             keys[i])))
    except RunStopped as stop:
        finished = [names[order[i]] for i in stop.finished] if parallel else []
        return _stopped(stop.exit_code, str(stop), finished, [n for n in names if n not in finished and n not in kept],
                        out)
    except Interrupted as exc:
        finished = [r["name"] for _, r in computed]
        return _stopped(exc.exit_code, str(exc), finished, [n for n in names if n not in finished and n not in kept],
                        out)
    by_index = dict(computed)
    results = [kept[name] if name in kept else
               _task_result(name, by_index[i]) if isinstance(by_index[i], TaskError) else by_index[i]
               for i, name in enumerate(names)]
    if not args.no_report:
        _write_report(out, results, registry, time.perf_counter() - started, progress)
    _print_results_table(results)
    if any(r["status"] == "error" for r in results):
        return EXIT_BAD_INPUT
    if args.strict and any(r["status"] == "fail" for r in results):
        return EXIT_DIAGNOSTICS
    return EXIT_OK


def _task_result(name: str, error: Exception) -> dict:
    return {"name": name, "status": "error", "verdict": f"ERROR: {error}", "headline": "", "seconds": 0.0,
            "error": str(error)}


def _write_report(out: Path, results: list[dict], registry, seconds: float, progress) -> Path:
    from bayes_il2._io import check_root_file, write_root_marker
    from bayes_il2.report.results import write_results_report

    check_root_file(out, "index.html")
    write_root_marker(out, "run", ["index.html"])
    index = write_results_report(out, [r["name"] for r in results], registry=registry, seconds=seconds,
                                 errors={r["name"]: r["error"] for r in results if r["error"]})
    progress(f"report: {index.resolve()}")
    return index


def _stopped(code: int, why: str, finished: list[str], unfinished: list[str], out: Path) -> int:
    """Say exactly what an interrupted run kept, and return the exit code."""
    _say(f"stopped: {why}.")
    if finished:
        _say(f"  written in this run (complete): {', '.join(f'{out / n}' for n in finished)}")
    if unfinished:
        _say(f"  not written: {', '.join(unfinished)}; any earlier results of these are unchanged")
    _say(f"  {out / 'index.html'} was not updated")
    return code


def _previous_seconds(out_root: Path, name: str) -> float:
    """Run time of ``name`` recorded by an earlier run in ``out_root`` (0 when unknown)."""
    import json

    try:
        return float(json.loads((out_root / name / "run.json").read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _print_results_table(results: list[dict]) -> None:
    """One line per analysis; the headline comes last, so a long one does not widen the others."""
    rows = [(r["name"], r["status"].upper(), "kept" if r.get("kept") else f"{r['seconds']:.1f}",
             r["headline"] or r["error"] or "") for r in results]
    header = ("analysis", "status", "seconds", "headline")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for name, status, seconds, headline in [header, *rows]:
        print(f"{name:<{widths[0]}}  {status:<{widths[1]}}  {seconds:>{widths[2]}}  {headline}")
    for r in results:
        if r["status"] in ("warn", "fail", "error"):
            print(f"  {r['name']}: {r['verdict']}")


# --------------------------------------------------------------------------- fit
def _fit_choices(args: argparse.Namespace, table: pd.DataFrame) -> tuple[dict, dict, list[str]]:
    """The spec's data and model tables for ``fit``, and what was inferred, one sentence each.

    Conflicting options are errors: --counts fits event counts with a binomial model on the odds-ratio
    (two arms) or logit-rate (one arm) scale, so it takes no --measure other than that, no --model
    and no --covariate.
    """
    inferred = list(table.attrs.get("inferences", []))
    if args.counts:
        two_arm = "events_t" in table.columns
        measure = "OR" if two_arm else "PLO"
        if args.measure not in (None, measure):
            raise SpecError(f"--measure {args.measure} conflicts with --counts: {'two-arm' if two_arm else 'one-arm'} "
                            f"counts are fitted on the {measure} scale (exact binomial likelihood); "
                            f"leave out --measure or compute your own yi/vi")
        if args.model is not None:
            raise SpecError("--model conflicts with --counts: counts are fitted with the binomial-normal "
                            "(two arms) or single-arm binomial model")
        if args.covariate:
            raise SpecError("--covariate conflicts with --counts: meta-regression needs an effect table (yi, vi)")
        family = "binomial_normal" if two_arm else "single_arm"
        inferred.append(f"model: {family} (from --counts and the {'two' if two_arm else 'one'}-arm layout); "
                        f"measure: {measure}")
        return ({"kind": "event_contrast" if two_arm else "event_rate", "outcome": "user_events", "measure": measure},
                {"family": family}, inferred)
    groups = table["disease"].nunique()
    has_group = any("grouping:" in line for line in inferred)
    if args.model == "three_level" and (not has_group or groups < 2):
        raise ModelError("--model three_level needs a 'group' (or 'disease') column with at least two groups; "
                         f"{args.csv} has {'none' if not has_group else 'one group'}")
    if args.model is None:
        family = "three_level" if has_group and groups > 1 else "nnhm"
        why = (f"column 'group' has {groups} groups; give --model nnhm to pool without them" if family == "three_level"
               else "no grouping column with two or more groups")
        inferred.append(f"model: {family} (inferred: {why})")
    else:
        family = args.model
        inferred.append(f"model: {family} (--model)")
    for cov in args.covariate:
        if cov not in table.columns:
            raise SpecError(f"--covariate {cov}: {args.csv} has no such column; it has {', '.join(table.columns)}")
    measure = args.measure or "GEN"
    if args.measure is None:
        inferred.append("measure: not given, so the effect is generic (GEN): results are on the scale of yi, "
                        "without back-transformation (give --measure, e.g. SMD, OR, ROM)")
    return ({"kind": "user_effects", "path": str(Path(args.csv).resolve()), "measure": measure},
            {"family": family, "covariates": list(args.covariate)}, inferred)


#: The figures of ``bayes-il2 fit``.
FIT_FIGURES = ("forest", "ppc", "pareto_k")


def fit_command(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from bayes_il2._io import check_replaceable
    from bayes_il2.pipeline import start_drawing

    check_sampler_args(args)
    out = Path(args.out)
    check_replaceable(out, "fit")
    with ExitStack() as background:
        # forked before the priors are parsed (scipy, which the figure makers do not import): the figure
        # process imports matplotlib meanwhile; an error below stops it
        drawing = start_drawing(background, FIT_FIGURES)
        return _fit(args, out, drawing)


def _fit(args: argparse.Namespace, out: Path, drawing) -> int:
    from bayes_il2._io import clean_stale
    from bayes_il2.pipeline import UserTable, run_analysis
    from bayes_il2.priors import parse_prior
    from bayes_il2.specs import parse_spec

    priors = {name: parse_prior(text).to_dict() for name, text in (("tau", args.tau_prior), ("mu", args.mu_prior))
              if text}  # a SpecError names the bad prior (exit 2)
    if args.counts:
        from bayes_il2.userdata import read_counts_csv

        table = read_counts_csv(args.csv)
    else:
        from bayes_il2.userdata import read_effects_csv

        table = read_effects_csv(args.csv)
    data, model, inferred = _fit_choices(args, table)
    if getattr(args, "parameterization", None):
        model["parameterization"] = args.parameterization
    if model["family"] == "three_level" and "tau" in priors:
        tau = priors.pop("tau")
        priors.update(tau_within=tau, tau_between=tau)
    name = _safe_name(out.name)
    raw = {"name": name, "title": f"Meta-analysis of {Path(args.csv).name}",
           "question": f"Pooled effect of the studies in {args.csv}", "figures": list(FIT_FIGURES),
           "data": data, "model": model, "priors": priors}
    spec = parse_spec(raw, source=str(args.csv)).with_sampler(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, sampler=args.sampler,
        target_accept=args.target_accept, engine=getattr(args, "engine", None))
    for line in inferred:
        _say(f"inferred: {line}")
    clean_stale(out.parent)
    run = run_analysis(spec, UserTable(table), out.parent, progress=_progress(args.quiet), target=out,
                       command="fit", reserve=("index.html",), inferences=inferred, figure_processes=True,
                       drawing=drawing)
    if run.error:
        print(f"error: {run.error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from bayes_il2.report.results import write_results_report

    for outcome in run.outcomes:
        chosen = (getattr(outcome.fit, "settings", None) or {}).get("default_priors")
        if chosen:
            _say(f"priors: {chosen} (set --tau-prior / --mu-prior to choose others)")
    page = write_results_report(out.parent, [out.name], registry=None, seconds=run.seconds,
                                index_name=f"{out.name}/index.html")
    _say(f"results: {out.resolve()}  (page: {page.resolve()})")
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
    from bayes_il2.evidence.consistency import check_registry_consistency, format_flags

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
        flags = check_registry_consistency(directory)
        if flags:  # warnings only: the exit code stays that of validation
            print(format_flags(flags, heading="warning: consistency check (bayes-il2 data check; validation is unaffected)"))
        return EXIT_OK
    if args.data_command == "check":
        return data_check_command(args)
    registry = evidence.load_registry(args.data)
    if args.data_command == "list":
        table = evidence.list_studies(registry)
        if args.disease:
            table = table[table["disease"] == args.disease]
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
            shown = table.astype(object).where(table.notna(), "")  # a blank cell is not reported: no NaN/<NA>
            print(shown.to_string(index=False))
        return EXIT_OK
    if args.data_command == "show":
        print(evidence.show_study(registry, args.study_id))
        return EXIT_OK
    if args.data_command == "crosscheck":
        from bayes_il2.classical.crosscheck import crosscheck, format_crosscheck

        print(format_crosscheck(crosscheck(registry)))
        return EXIT_OK
    return EXIT_BAD_INPUT


def data_check_command(args: argparse.Namespace) -> int:
    """``bayes-il2 data check``: the consistency flags of a valid registry; with ``--strict`` exit 1
    when any is an error (the bundled registry has such errors: sources that contradict themselves)."""
    from bayes_il2 import evidence
    from bayes_il2.evidence.consistency import check_registry_consistency, format_flags

    directory = args.directory or evidence.default_data_dir()
    evidence.load_registry(directory)  # a registry that breaks the schema is reported (exit 2) first
    flags = check_registry_consistency(directory)
    print(format_flags(flags, heading=f"consistency of {directory}"))
    strict = getattr(args, "strict", False)
    return EXIT_DIAGNOSTICS if strict and any(f.severity == "error" for f in flags) else EXIT_OK


# --------------------------------------------------------------------------- reanalyze
def reanalyze_command(args: argparse.Namespace) -> int:
    events = [_parse_fraction(x) for x in args.events] if args.events else None
    for name, value in (("--or-important", args.or_important), ("--mcid", args.mcid)):
        if not (math.isfinite(value) and value > 0):
            raise SpecError(f"{name} must be a finite number > 0, got {value}")
    if args.or_important <= 1:
        raise SpecError(f"--or-important must exceed 1 (an odds ratio of benefit), got {args.or_important}")
    priors = args.prior or ["skeptical", "neutral", "enthusiastic"]
    if args.difference and not all(math.isfinite(x) for x in args.difference):
        raise SpecError("--difference EST LOW HIGH must be finite numbers")
    if args.difference and not args.difference[1] < args.difference[0] < args.difference[2]:
        raise SpecError("--difference EST LOW HIGH: need LOW < EST < HIGH")
    if args.difference and max(abs(x) for x in args.difference) > YI_MAX:
        raise SpecError(f"--difference: values beyond {YI_MAX:g} are not supported: rescale (e.g. other units)")
    if args.difference and args.mcid < 1e-9 * (args.difference[2] - args.difference[1]):
        raise SpecError(f"--mcid {args.mcid:g} is below 1e-9 of the CI's width: give it in the units of --difference")
    if not args.study and ({"map", "map_robust"} & set(priors) or args.map_study):
        raise SpecError("--prior map/map_robust and --map-study need --study (the MAP prior comes from the registry)")
    from bayes_il2 import reanalysis

    if args.study:
        from bayes_il2.evidence import load_registry

        registry = load_registry(args.data)
        known = set(registry.studies["study_id"].astype(str))
        if args.study not in known:
            raise SpecError(f"--study {args.study}: no such study_id in the registry "
                            "(bayes-il2 data list shows them)")
        map_studies = args.map_study
        if map_studies is not None:
            unknown = [s for s in map_studies if s not in known]
            if unknown:
                raise SpecError(f"--map-study {', '.join(unknown)}: no such study_id in the registry "
                                "(bayes-il2 data list shows them)")
        if map_studies is None and {"map", "map_robust"} & set(priors):
            map_studies = _other_responder_rcts(registry, args.study)
        if map_studies and args.study in map_studies:
            raise SpecError(f"--map-study {args.study}: the MAP prior must come from other studies than the one "
                            "reanalysed (its data would count twice)")
        result = reanalysis.reanalyze_study(registry, args.study, None, priors=priors,
                                            clinically_important_or=args.or_important, mcid=args.mcid,
                                            map_studies=map_studies)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        tables = list(result.tables().values())
        if not tables:
            raise ModelError(f"--study {args.study}: the registry holds no two-arm endpoint of this study "
                             "to reanalyse")
        table = pd.concat(tables, ignore_index=True)
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
    for line in _blank_cells(table):
        print(line)
    return EXIT_OK


def _blank_cells(table: pd.DataFrame) -> list[str]:
    """One line per kind of blank (NaN) cell in a reanalysis table, saying why it is blank."""
    lines = []
    if "rd_median" in table.columns and table["rd_median"].isna().any():
        lines.append("NaN in rd_median, rd_low, rd_high: the risk difference is defined for binary endpoints only")
    flat = table["prior"].astype(str).eq("flat") if "prior" in table.columns else pd.Series(False, index=table.index)
    for column in ("prior_p_benefit", "prior_ess", "prior_info_ratio", "conflict_p"):
        if column not in table.columns:
            continue
        blank = table[column].isna()
        if (blank & flat).any():
            lines.append(f"NaN in {column} (flat prior): a flat prior carries no information, no prior "
                         "probability and no prior predictive distribution")
        if (blank & ~flat).any():
            lines.append(f"NaN in {column}: not defined for this endpoint (e.g. an effective sample size needs "
                         "the arms' sizes, which --difference does not give)")
    return lines


def _other_responder_rcts(registry, study_id: str) -> list[str]:
    """Pooled RCTs other than ``study_id`` that report a two-arm responder endpoint."""
    studies = registry.studies
    rcts = set(studies.loc[(studies["design"] == "rct") & (studies["pool"] == "yes"), "study_id"]) - {study_id}
    events = registry.events
    responders = events[events["outcome"].str.startswith("responder_") & events["study_id"].isin(rcts)]
    arms_per_study = responders.groupby("study_id")["arm_id"].nunique()
    return sorted(arms_per_study[arms_per_study >= 2].index)


def _parse_fraction(text: str) -> tuple[int, int]:
    try:
        events, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ModelError(f"--events expects counts as EVENTS/TOTAL (e.g. 20/30), got {text!r}") from None
    if not 0 <= events <= n or n == 0:
        raise ModelError(f"--events {text}: need 0 <= events <= total and total > 0")
    if n > 10 ** 9:
        raise ModelError(f"--events {text}: totals above 1e9 are not supported")
    return events, n
