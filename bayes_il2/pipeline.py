"""Run analysis specs end to end: registry -> effects -> model -> diagnostics -> figures -> files.

Each analysis is written into ``<out>/<name>/`` through :func:`bayes_il2._io.atomic_directory`, so
an interrupted run leaves the previous results intact and never a half-written folder.
"""
from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_il2._io import atomic_directory, atomic_write_with, slug
from bayes_il2.errors import ModelError
from bayes_il2.specs import AnalysisSpec

Progress = Callable[[str], None]


@dataclass
class OutcomeResult:
    """One fitted outcome of an analysis (most analyses have exactly one)."""

    label: str
    effects: pd.DataFrame
    excluded: pd.DataFrame
    summary: pd.DataFrame
    fit: object | None = None
    diagnostics: object | None = None
    figures: dict[str, object] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class AnalysisRun:
    """Everything one spec produced, for the report and the final console table."""

    spec: AnalysisSpec
    outcomes: list[OutcomeResult]
    status: str  # pass | warn | fail | error | skipped
    verdict: str
    seconds: float
    out_dir: Path | None = None
    error: str | None = None
    inferences: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        return self.outcomes[0].headline if self.outcomes else (self.error or "")


# --------------------------------------------------------------------------- effects
@dataclass(frozen=True)
class UserTable:
    """A user's own effect or event table, used in place of the registry (``bayes-il2 fit``)."""

    table: pd.DataFrame


def apply_filters(table: pd.DataFrame, spec: AnalysisSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the spec's inclusion filters; return (kept, excluded-with-reason)."""
    f = spec.filters
    reasons = pd.Series("", index=table.index, dtype=object)

    def mark(mask: pd.Series, reason: str) -> None:
        reasons[mask & (reasons == "")] = reason

    if f.diseases and "disease" in table:
        mark(~table["disease"].isin(f.diseases), f"disease not in {list(f.diseases)}")
    if f.designs and "design" in table:
        mark(~table["design"].isin(f.designs), f"design not in {list(f.designs)}")
    if f.exclude_studies:
        mark(table["study_id"].isin(f.exclude_studies), "excluded by the spec")
    if "dose_miu" in table:
        dose = pd.to_numeric(table["dose_miu"], errors="coerce")
        if f.dose_min_miu is not None:
            mark(dose < f.dose_min_miu, f"dose below {f.dose_min_miu} MIU")
        if f.dose_max_miu is not None:
            mark(dose > f.dose_max_miu, f"dose above {f.dose_max_miu} MIU")
    dropped = table[reasons != ""]
    excluded = pd.DataFrame({"study_id": dropped["study_id"],
                             "arm_id": dropped.get("arm_id", pd.Series("", index=dropped.index)),
                             "outcome": dropped.get("outcome", pd.Series("", index=dropped.index)),
                             "reason": reasons[reasons != ""]})
    return table[reasons == ""].reset_index(drop=True), excluded.reset_index(drop=True)


def build_effects(spec: AnalysisSpec, registry, outcome: str | None = None,
                  r: float | None = None, skewed: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The effect (or event) table of a spec, with the excluded rows and reasons."""
    from bayes_il2 import effects

    kind = spec.data.kind
    if isinstance(registry, UserTable):
        table, excluded = registry.table, pd.DataFrame(columns=["study_id", "arm_id", "outcome", "reason"])
    elif kind == "treg_expansion":
        table, excluded = effects.treg_expansion_effects(
            registry, measure=spec.data.measure, r=spec.data.prepost_r if r is None else r,
            include_duplicates=spec.filters.include_duplicates, skewed=skewed or spec.data.skewed)
    elif kind == "event_rate":
        table, excluded = effects.event_rate_effects(registry, outcome or spec.data.outcome)
    elif kind == "event_contrast":
        table, excluded = effects.event_contrast_table(registry, outcome or spec.data.outcome)
    elif kind == "user_effects":
        from bayes_il2.userdata import read_effects_csv

        table = read_effects_csv(Path(spec.data.path))
        excluded = pd.DataFrame(columns=["study_id", "arm_id", "outcome", "reason"])
    else:  # pragma: no cover - guarded by spec validation
        raise ModelError(f"data kind {kind!r} has no effect builder")
    kept, filtered = apply_filters(table, spec)
    return kept, pd.concat([excluded, filtered], ignore_index=True)


# --------------------------------------------------------------------------- fitting
def spec_priors(spec: AnalysisSpec, tau_override: dict | None = None) -> dict[str, object]:
    """Prior objects for the spec's ``[priors]`` tables."""
    from bayes_il2.priors import prior_from_spec

    tables = dict(spec.priors)
    if tau_override is not None:
        tables["tau"] = tau_override
    return {name: prior_from_spec(table) for name, table in tables.items()}


def fit_table(spec: AnalysisSpec, table: pd.DataFrame, priors: dict[str, object] | None = None):
    """Fit the spec's model family to an effect or event table; returns a Fit."""
    from bayes_il2.api import meta_analysis

    if len(table) == 0:
        raise ModelError(f"{spec.name}: no study has usable data after exclusions")
    priors = spec_priors(spec) if priors is None else priors
    s = spec.sampler
    return meta_analysis(
        table, model=spec.model.family, measure=spec.data.measure, priors=priors,
        covariates=list(spec.model.covariates) or None,
        parameterization=spec.model.parameterization,
        sampler=s.sampler, draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed,
        target_accept=s.target_accept, progressbar=s.progressbar, **spec.model.family_options())


def pooling_tables(spec: AnalysisSpec, table: pd.DataFrame, fit) -> dict[str, pd.DataFrame]:
    """An EXNEX analysis's side-by-side tables (:func:`bayes_il2.modeling.structures.pooling_comparison`)."""
    from bayes_il2.api import meta_analysis
    from bayes_il2.modeling.structures import pooling_comparison

    s = spec.sampler

    def fit_variant(family: str, priors: dict, options: dict):
        return meta_analysis(table, model=family, measure=spec.data.measure, priors=priors, sampler=s.sampler,
                             draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed,
                             target_accept=s.target_accept, **options)

    return pooling_comparison(fit, table, spec_priors(spec), fit_variant)


def headline_of(fit, summary: pd.DataFrame) -> str:
    """One line: the pooled estimate on the natural scale with its 95% credible interval."""
    row_name = "p_pooled" if "p_pooled" in set(summary.get("parameter", [])) else "mu"
    rows = summary[summary["parameter"] == row_name] if "parameter" in summary else summary.loc[[row_name]]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    low = row.get("eti_low", row.get("q2.5"))
    high = row.get("eti_high", row.get("q97.5"))
    scale = "scale of yi" if fit.measure in ("GEN", "unspecified") else f"{fit.measure}, natural scale"
    return f"{row_name} = {row['median']:.3g} [{low:.3g}, {high:.3g}] ({scale})"


# --------------------------------------------------------------------------- sensitivity
def run_sensitivity(spec: AnalysisSpec, registry, base_table: pd.DataFrame, fit) -> pd.DataFrame:
    """Every ``[[sensitivity]]`` scenario of the spec, one row per scenario value.

    Normal models are refitted with the exact engine (no Monte-Carlo error, milliseconds);
    others by MCMC with the spec's sampler settings.
    """
    from bayes_il2.diagnostics.exact_bridge import exact_model, summarize_exact, supports_exact

    rows = []

    def summarize(label: str, value: str, table: pd.DataFrame, tau_prior=None) -> None:
        if len(table) < 2:
            rows.append({"scenario": label, "value": value, "k": len(table), "note": "fewer than two studies"})
            return
        if supports_exact(fit):
            proxy = _FitProxy(fit, table)
            model = exact_model(proxy, table, tau_prior=tau_prior)
            s = summarize_exact(model)
            engine = "exact"
        else:
            priors = spec_priors(spec)
            if tau_prior is not None:
                priors["tau"] = tau_prior
            refit = fit_table(spec, table, priors)
            mu = np.asarray(refit.idata["posterior"]["mu"]).reshape(-1)
            tau_name = "tau" if "tau" in refit.idata["posterior"].data_vars else "tau_within"
            s = {"mu_mean": float(mu.mean()), "mu_low": float(np.quantile(mu, 0.025)),
                 "mu_high": float(np.quantile(mu, 0.975)),
                 "tau_median": float(np.median(np.asarray(refit.idata["posterior"][tau_name])))}
            engine = "mcmc"
        rows.append({"scenario": label, "value": value, "k": len(table), "mu_mean": s["mu_mean"],
                     "mu_low": s["mu_low"], "mu_high": s["mu_high"], "tau_median": s["tau_median"],
                     "engine": engine})

    from bayes_il2.priors import prior_from_spec

    for scenario in spec.sensitivity:
        if scenario.kind == "tau_prior":
            for table in scenario.values:
                prior = prior_from_spec(table)
                summarize(scenario.name, repr(prior), base_table, tau_prior=prior)
        elif scenario.kind == "prepost_r":
            for r in scenario.values:
                table, _ = build_effects(spec, registry, r=float(r))
                summarize(scenario.name, f"r = {r}", table)
        elif scenario.kind == "skewed_summaries":
            for policy in scenario.values:
                table, _ = build_effects(spec, registry, skewed=str(policy))
                summarize(scenario.name, f"skewed medians: {policy}", table)
        elif scenario.kind == "exclude_designs":
            kept = base_table[~base_table["design"].isin(scenario.values)]
            summarize(scenario.name, "without " + ", ".join(map(str, scenario.values)), kept)
        elif scenario.kind == "exclude_studies":
            kept = base_table[~base_table["study_id"].isin(scenario.values)]
            summarize(scenario.name, "without " + ", ".join(map(str, scenario.values)), kept)
        elif scenario.kind == "leave_one_out":
            for sid in base_table["study_id"].astype(str):
                summarize(scenario.name, f"without {sid}", base_table[base_table["study_id"].astype(str) != sid])
    return pd.DataFrame(rows)


class _FitProxy:
    """A Fit seen through another data table (for exact refits in sensitivity analyses)."""

    def __init__(self, fit, data: pd.DataFrame):
        self._fit, self.data = fit, data

    def __getattr__(self, name):
        return getattr(self._fit, name)


# --------------------------------------------------------------------------- one analysis
def figures_for(spec: AnalysisSpec, fit, table: pd.DataFrame, diagnostics) -> dict[str, object]:
    """The figures named in ``spec.figures`` that apply to this fit (natural units where the measure has them)."""
    from bayes_il2 import plots

    makers: dict[str, Callable[[], object]] = {
        "forest": lambda: plots.forest_plot(table, fit=fit, title=spec.title),
        "forest_by_design": lambda: plots.forest_plot(table, fit=fit, title=spec.title, group_by="design"),
        "parameter_forest": lambda: plots.parameter_forest(fit),
        "tau_posterior": lambda: plots.tau_posterior_plot(fit),
        "mu_prior_posterior": lambda: plots.mu_prior_posterior_plot(fit),
        "ppc": lambda: plots.ppc_plot(diagnostics.tables["predictive"], measure=fit.measure),
        "pareto_k": lambda: plots.pareto_k_plot(diagnostics.tables["loo"]),
        "influence": lambda: plots.influence_plot(diagnostics.tables["influence"], measure=fit.measure),
        "prior_sensitivity": lambda: plots.prior_sensitivity_plot(diagnostics.tables["tau_prior_grid"],
                                                                 measure=fit.measure),
    }
    figures = {}
    for name in spec.figures:
        maker = makers.get(name)
        if maker is None:
            continue
        try:
            figures[name] = maker()
        except KeyError:
            continue  # the table behind the figure does not apply to this model
    return figures


def run_outcome(spec: AnalysisSpec, registry, outcome: str | None, progress: Progress) -> OutcomeResult:
    """Effects, fit, diagnostics and figures of one outcome of a spec."""
    from bayes_il2.diagnostics import diagnose

    label = outcome or spec.data.outcome or spec.data.measure
    table, excluded = build_effects(spec, registry, outcome=outcome)
    if len(table) == 0:
        return OutcomeResult(label=label, effects=table, excluded=excluded, summary=pd.DataFrame(),
                             headline="no usable data", notes=["no study has usable data for this outcome"])
    progress(f"{spec.name}[{label}]: fitting {spec.model.family} to {len(table)} studies")
    fit = fit_table(spec, table)
    summary = fit.summary(scale="natural")
    progress(f"{spec.name}[{label}]: diagnostics")
    diagnostics = diagnose(fit)
    extra: dict[str, pd.DataFrame] = {}
    if spec.sensitivity:
        progress(f"{spec.name}[{label}]: {len(spec.sensitivity)} sensitivity analyses")
        extra["sensitivity"] = run_sensitivity(spec, registry, table, fit)
    if spec.model.family == "exnex":
        progress(f"{spec.name}[{label}]: EXNEX beside three-level and design bias; model averaging")
        extra.update(pooling_tables(spec, table, fit))
    elif spec.model.family == "exnex_rate":
        from bayes_il2.modeling.exnex import exchangeability_table

        extra["exnex_by_disease"] = exchangeability_table(fit)
    figures = figures_for(spec, fit, table, diagnostics)
    caveats = list(fit.settings.get("caveats", []))
    notes = []
    if caveats:
        from bayes_il2.modeling.identifiability import headline_prefix

        by_parameter = {c["parameter"]: c["message"] for c in caveats}
        summary = summary.assign(caveat=summary["parameter"].map(by_parameter).fillna(""))
        notes = [f"{c['parameter']}: {c['message']}" for c in caveats]
        for line in notes:
            progress(f"{spec.name}[{label}]: caveat: {line}")
    return OutcomeResult(label=label, effects=table, excluded=excluded, summary=summary, fit=fit,
                         diagnostics=diagnostics, figures=figures, extra_tables=extra, notes=notes,
                         headline=(headline_prefix(caveats) if caveats else "") + headline_of(fit, summary))


def run_reanalysis(spec: AnalysisSpec, registry, progress: Progress) -> list[OutcomeResult]:
    """The trial reanalysis of a ``family = 'reanalysis'`` spec (one OutcomeResult per endpoint)."""
    from bayes_il2.plots.reanalysis import reanalysis_figures
    from bayes_il2.reanalysis import reanalyze_study

    progress(f"{spec.name}: reanalysing {spec.data.study}")
    result = reanalyze_study(registry, spec.data.study, spec.reanalysis)
    outcomes = []
    for endpoint, table in result.tables().items():
        figures = reanalysis_figures(result, endpoint)
        outcomes.append(OutcomeResult(label=endpoint, effects=result.endpoint_table(endpoint),
                                      excluded=result.excluded, summary=table, figures=figures,
                                      headline=result.headline(endpoint), notes=list(result.notes)))
    return outcomes


def run_analysis(spec: AnalysisSpec, registry, out_root: Path, progress: Progress = lambda m: None, *,
                 target: Path | None = None, command: str = "run", reserve: tuple[str, ...] = (),
                 inferences: list[str] | None = None) -> AnalysisRun:
    """Run one spec and write ``<out_root>/<spec.name>/`` (or ``target``) atomically.

    ``command`` names what writes the folder (its marker says so: :mod:`bayes_il2._io`); an
    existing folder that the same command did not write, or that holds files it did not write,
    is never replaced (:class:`~bayes_il2.errors.OutputError`, checked before any fitting).
    """
    from bayes_il2._io import check_replaceable

    check_replaceable(target or Path(out_root) / spec.name, command)
    inferences = list(inferences or [])
    started = time.perf_counter()
    try:
        if spec.model.family == "reanalysis":
            outcomes = run_reanalysis(spec, registry, progress)
        else:
            labels = [spec.data.outcome] + list(spec.data.outcomes) if spec.data.outcome else [None]
            outcomes = [run_outcome(spec, registry, o, progress) for o in labels]
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing analysis must not stop the others
        return AnalysisRun(spec=spec, outcomes=[], status="error", verdict=f"ERROR: {exc}",
                           seconds=time.perf_counter() - started, inferences=inferences,
                           error="".join(traceback.format_exception_only(type(exc), exc)).strip())
    if spec.model.family != "reanalysis" and outcomes and all(o.fit is None for o in outcomes):
        why = "; ".join(f"{o.label}: {'; '.join(o.notes)}" for o in outcomes)
        return AnalysisRun(spec=spec, outcomes=[], status="error", seconds=time.perf_counter() - started,
                           verdict=f"ERROR: no study left to fit ({why})", inferences=inferences,
                           error=f"no study has usable data after the registry's exclusions and the spec's "
                                 f"[filters] ({why})")
    statuses = [o.diagnostics.status for o in outcomes if o.diagnostics is not None]
    from bayes_il2.diagnostics.checks import worst

    status = worst(statuses) if statuses else ("pass" if outcomes else "skipped")
    verdicts = [f"{o.label}: {o.diagnostics.verdict}" for o in outcomes if o.diagnostics is not None]
    run = AnalysisRun(spec=spec, outcomes=outcomes, status=status,
                      verdict=" | ".join(verdicts) if verdicts else "no MCMC diagnostics (closed-form or exact)",
                      seconds=time.perf_counter() - started, inferences=inferences)
    progress(f"{spec.name}: writing results")
    try:
        run.out_dir = write_analysis(run, out_root, target=target, command=command, reserve=reserve)
    except OSError as exc:  # the previous results folder is left as it was (atomic swap)
        run.status, run.error = "error", f"writing results failed: {exc}"
        run.verdict = f"ERROR: {run.error}"
    return run


# --------------------------------------------------------------------------- writing
def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_with(path, lambda tmp: df.to_csv(tmp, index=False))


def write_analysis(run: AnalysisRun, out_root: Path, *, target: Path | None = None, command: str = "run",
                   reserve: tuple[str, ...] = ()) -> Path:
    """Write one analysis folder atomically: summary, effects, exclusions, diagnostics, posterior, figures.

    The folder is ``<out_root>/<spec.name>`` unless ``target`` is given; its marker names
    ``command`` (see :func:`bayes_il2._io.atomic_directory`).
    """
    from bayes_il2.plots import save_figure

    target = Path(target) if target is not None else Path(out_root) / run.spec.name
    multi = len(run.outcomes) > 1
    with atomic_directory(target, command, reserve=reserve, analysis=run.spec.name) as tmp:
        summaries = []
        for o in run.outcomes:
            where = tmp / slug(o.label) if multi else tmp
            where.mkdir(parents=True, exist_ok=True)
            _write_csv(o.effects, where / "effects.csv")
            _write_csv(o.excluded, where / "excluded.csv")
            if len(o.summary):
                _write_csv(o.summary, where / "summary.csv")
                summaries.append(o.summary.assign(outcome=o.label))
            for name, table in o.extra_tables.items():
                _write_csv(table, where / f"{name}.csv")
            if o.diagnostics is not None:
                o.diagnostics.write(where / "diagnostics.json")
                for name, table in o.diagnostics.tables.items():
                    _write_csv(table, where / f"diagnostics_{name}.csv")
            if o.fit is not None:
                o.fit.to_netcdf(where / "posterior.nc")
                (where / "fit.json").write_text(json.dumps(o.fit.metadata(), indent=2), encoding="utf-8")
            for name, fig in o.figures.items():
                save_figure(fig, where / name, formats=("png",))
        if multi and summaries:
            _write_csv(pd.concat(summaries, ignore_index=True), tmp / "summary.csv")
        meta = {"analysis": run.spec.name, "title": run.spec.title, "question": run.spec.question,
                "status": run.status,
                "verdict": run.verdict, "seconds": round(run.seconds, 2), "spec": run.spec.source,
                "outcomes": [o.label for o in run.outcomes],
                "notes": {o.label: list(o.notes) for o in run.outcomes if o.notes},
                "headlines": {o.label: o.headline for o in run.outcomes if o.headline},
                "inferences": list(run.inferences)}
        (tmp / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return target

