"""Run analysis specs end to end: registry -> effects -> model -> diagnostics -> figures -> files.

Each analysis is written into ``<out>/<name>/`` through :func:`bayes_il2._io.atomic_directory`, so
an interrupted run leaves the previous results intact and never a half-written folder.
"""
from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2._io import atomic_directory, atomic_write_with, slug
from bayes_il2.errors import ModelError
from bayes_il2.processes import freeze_heap
from bayes_il2.processes import release_memory as _release_memory
from bayes_il2.specs import TREG_KINDS, AnalysisSpec

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
    figures: dict[str, object] = field(default_factory=dict)  # name -> Figure, or RenderedFigure (drawn)
    drawing: list = field(default_factory=list)  # processes.Background jobs drawing more figures
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline: str = ""
    notes: list[str] = field(default_factory=list)
    reanalysis: object | None = None  # the EndpointReanalysis of a trial-reanalysis endpoint


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
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # analysis-level tables (top folder)
    notes: list[str] = field(default_factory=list)  # analysis-level notes (run.json, report)

    @property
    def headline(self) -> str:
        return self.outcomes[0].headline if self.outcomes else (self.error or "")


#: Below this resident size the pipeline does not collect garbage and trim the heap between phases: an
#: exact fit stays near 200 MiB, where each full collection cost 0.05-0.2 s and released nothing
#: that mattered; the MCMC analyses whose peaks the trimming lowers are far above it.
TRIM_ABOVE_MIB = 256.0


def release_memory() -> None:
    """:func:`bayes_il2.processes.release_memory` once the process holds more than :data:`TRIM_ABOVE_MIB`."""
    _release_memory(TRIM_ABOVE_MIB)


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
                  r: float | None = None, skewed: str | None = None, qualitative: str | None = None,
                  aggregates: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The effect (or event) table of a spec, with the excluded rows and reasons."""
    from bayes_il2 import effects

    kind = spec.data.kind
    if isinstance(registry, UserTable):
        table, excluded = registry.table, pd.DataFrame(columns=["study_id", "arm_id", "outcome", "reason"])
    elif kind == "treg_expansion":
        table, excluded = effects.treg_expansion_effects(
            registry, measure=spec.data.measure, r=spec.data.prepost_r if r is None else r,
            include_duplicates=spec.filters.include_duplicates, skewed=skewed or spec.data.skewed)
    elif kind == "treg_partial":
        from bayes_il2.effects.partial import treg_partial_effects

        table, excluded = treg_partial_effects(
            registry, measure=spec.data.measure, r=spec.data.prepost_r if r is None else r,
            qualitative=qualitative or spec.data.qualitative, overlap=spec.data.overlap,
            aggregates=spec.data.aggregates if aggregates is None else aggregates,
            include_duplicates=spec.filters.include_duplicates, skewed=skewed or spec.data.skewed)
    elif kind == "event_rate":
        table, excluded = effects.event_rate_effects(registry, outcome or spec.data.outcome)
        if spec.model.exposure == "cloglog":
            from bayes_il2.effects.exposure import exposure_table

            table, no_window = exposure_table(table)
            excluded = pd.concat([excluded, no_window], ignore_index=True)
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
def fits_partial_rows() -> bool:
    """True once the model families fit partially reported rows (bounds, P values, aggregates).

    Those likelihoods come with branch ``partialmodels`` (issue #14); until its module is there,
    a ``treg_partial`` analysis fits its complete rows only and reports every other row as shown,
    not fitted. The lead switches this on by merging (rename the module here if it differs).
    """
    import importlib.util

    return importlib.util.find_spec("bayes_il2.modeling.partial") is not None


def rows_to_fit(spec: AnalysisSpec, table: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The rows the model is given, and a note when some rows of the table are left out of the fit."""
    if spec.data.kind != "treg_partial" or "info" not in table or fits_partial_rows():
        return table, None
    complete = table[table["info"] == "complete"].reset_index(drop=True)
    left = table[table["info"] != "complete"]
    if left.empty:
        return complete, None
    kinds = ", ".join(f"{k} {v}" for k, v in left["info"].value_counts().items())
    return complete, (f"{len(left)} partially reported rows ({kinds}) are shown in effects.csv and the forest plot "
                      "but not fitted: the partial-information likelihoods are not in this build "
                      "(the estimate rests on the complete-data rows)")


def spec_priors(spec: AnalysisSpec, tau_override: dict | None = None) -> dict[str, object]:
    """Prior objects for the spec's ``[priors]`` tables."""
    from bayes_il2.priors import prior_from_spec

    tables = dict(spec.priors)
    if tau_override is not None:
        tables["tau"] = tau_override
    return {name: prior_from_spec(table) for name, table in tables.items()}


def fit_table(spec: AnalysisSpec, table: pd.DataFrame, priors: dict[str, object] | None = None, *,
              predictive: bool = True):
    """Fit the spec's model family to an effect or event table; returns a Fit.

    ``predictive=False``: an MCMC fit without posterior-predictive draws (for a refit read only for
    its posterior, e.g. a sensitivity scenario); an exact fit draws them anyway (they cost nothing).
    """
    if len(table) == 0:
        raise ModelError(f"{spec.name}: no study has usable data after exclusions")
    priors = spec_priors(spec) if priors is None else priors
    s = spec.sampler
    table, _ = rows_to_fit(spec, table)
    options = {"exposure": spec.model.exposure} if spec.model.family in ("single_arm", "design_bias_rate") else {}
    from bayes_il2.engine import exact_fit_for_spec, exact_obstacle

    caveats = None
    if exact_obstacle(spec.model.family, spec.model.covariates, priors) is None:
        from bayes_il2.modeling.identifiability import check_identifiable

        # before the exact engine: a model the data cannot identify is refused as MCMC refuses it
        caveats = check_identifiable(spec.model.family, table, spec.model.covariates)
    exact_priors, defaulted = dict(priors), None
    if spec.model.family in ("nnhm", "binomial_normal"):  # the data-scaled defaults MCMC would take, said as MCMC says them
        from bayes_il2.default_priors import default_prior_choice

        choice = default_prior_choice(table, spec.model.family, spec.data.measure, priors)
        exact_priors.update(choice.priors)
        defaulted = choice.reason
    exact = exact_fit_for_spec(spec, table, exact_priors)
    if exact is not None:
        from dataclasses import replace

        if caveats:
            exact = replace(exact, settings={**exact.settings, "caveats": [c.to_dict() for c in caveats]})
        if defaulted:
            exact = replace(exact, settings={**exact.settings, "default_priors": defaulted})
        return exact
    from bayes_il2.api import meta_analysis

    return meta_analysis(
        table, model=spec.model.family, measure=spec.data.measure, priors=priors,
        covariates=list(spec.model.covariates) or None,
        parameterization=spec.model.parameterization,
        sampler=s.sampler, draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed,
        target_accept=s.target_accept, progressbar=s.progressbar, predictive=predictive, **options,
        **spec.model.family_options())


def exact_three_level_applies(table: pd.DataFrame, priors: dict) -> bool:
    """True when the exact engine answers a three-level fit of ``table`` with ``priors``: complete
    rows (no bounds or P values), proper tau priors, a Normal or flat mu prior."""
    from bayes_il2.errors import ModelError
    from bayes_il2.exact._common import location_prior, variance_prior_bounds

    if "info" in table.columns and (table["info"].astype(str) != "complete").any():
        return False
    try:
        location_prior(priors.get("mu"), "exact")
        for name in ("tau_within", "tau_between"):
            variance_prior_bounds(priors[name], "exact", name)
    except (ModelError, KeyError):
        return False
    return True


def _variant_fitter(spec: AnalysisSpec, table: pd.DataFrame) -> Callable[[str, dict, dict], Any]:
    """``fit_variant(family, priors, options)``: another family fitted to ``table`` with the spec's
    sampler, for the side-by-side tables. A variant is read only for its posterior of mu and its
    per-study log-likelihood (stacking), so none draws the posterior predictive; the three-level
    variant comes from the exact engine where it applies (:func:`bayes_il2.engine.exact_three_level_fit`,
    independent draws: no sampling, no compilation)."""
    from bayes_il2.api import meta_analysis

    s = spec.sampler

    def fit_variant(family: str, priors: dict, options: dict):
        release_memory()  # the previous variant's temporaries go back before this one compiles and samples
        if family == "three_level" and not options and exact_three_level_applies(table, priors):
            from bayes_il2.engine import exact_three_level_fit

            return exact_three_level_fit(table, priors=dict(priors), measure=spec.data.measure, draws=s.draws,
                                         chains=s.chains, seed=s.seed, predictive=False)
        return meta_analysis(table, model=family, measure=spec.data.measure, priors=priors, sampler=s.sampler,
                             draws=s.draws, tune=s.tune, chains=s.chains, seed=s.seed,
                             target_accept=s.target_accept, predictive=False, **options)

    return fit_variant


def pooling_tables(spec: AnalysisSpec, table: pd.DataFrame, fit) -> dict[str, pd.DataFrame]:
    """An EXNEX analysis's side-by-side tables (:func:`bayes_il2.modeling.structures.pooling_comparison`):
    the three-level variant exact, the design-bias variant by MCMC (:func:`_variant_fitter`)."""
    from bayes_il2.modeling.structures import pooling_comparison

    return pooling_comparison(fit, table, spec_priors(spec), _variant_fitter(spec, table))


def rate_pooling_tables(spec: AnalysisSpec, table: pd.DataFrame, fit) -> dict[str, pd.DataFrame]:
    """An ``exnex_rate`` analysis's side-by-side tables
    (:func:`bayes_il2.modeling.structures.rate_pooling_comparison`), variants by MCMC without
    posterior-predictive draws (:func:`_variant_fitter`)."""
    from bayes_il2.modeling.structures import rate_pooling_comparison

    bias = {"bias_sd": spec.model.bias_sd, "bias_spread": spec.model.bias_spread}
    return rate_pooling_comparison(fit, table, spec_priors(spec), _variant_fitter(spec, table), bias_options=bias)


def headline_of(fit, summary: pd.DataFrame) -> str:
    """One line: the pooled estimate on the natural scale with its 95% credible interval."""
    from bayes_il2.safety.statements import exposure_headline, k_text

    settings = getattr(fit, "settings", {}) or {}
    if settings.get("exposure") == "cloglog":
        return exposure_headline(summary, settings, k_text(settings))
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
    others by MCMC with the spec's sampler settings, except a scenario whose rows the exact engine
    answers (the complete rows of a partial-information analysis), and a scenario that changes only
    the known variances of fully reported rows (e.g. the pre-post r), whose summary comes from the
    analysis's draws reweighted where their Pareto k allows (:mod:`bayes_il2.diagnostics.reweight`);
    the ``engine`` column says which (exact, mcmc, mcmc-reweighted). A scenario whose fitted rows equal the
    analysis's own (e.g. the spec's own pre-post r or qualitative policy) or an earlier scenario's,
    with the same priors, takes that fit's summary instead of sampling again: same rows, priors,
    sampler and seed give the same draws. The scenarios run as chunks of the one loop that
    simulation studies and SBC use (:func:`bayes_il2.runner.run_chunks`, in process here).
    """
    from bayes_il2.diagnostics.exact_bridge import exact_model, summarize_exact, supports_exact
    from bayes_il2.diagnostics.reweight import reweighted_scenario

    jobs: list[tuple] = []
    fitted: dict[tuple, dict[str, Any]] = {}  # (rows, tau prior) -> summary of its refit

    def refit_summary(refit) -> dict[str, Any]:
        if supports_exact(refit):  # e.g. the complete rows of a partial-information analysis (fit_table)
            return {**summarize_exact(exact_model(refit)), "engine": "exact"}
        mu = np.asarray(refit.idata["posterior"]["mu"]).reshape(-1)
        tau_name = "tau" if "tau" in refit.idata["posterior"].data_vars else "tau_within"
        return {"mu_mean": float(mu.mean()), "mu_low": float(np.quantile(mu, 0.025)),
                "mu_high": float(np.quantile(mu, 0.975)),
                "tau_median": float(np.median(np.asarray(refit.idata["posterior"][tau_name]))), "engine": "mcmc"}

    if not supports_exact(fit) and getattr(fit, "idata", None) is not None:
        fitted[(rows_key(rows_to_fit(spec, base_table)[0]), None)] = refit_summary(fit)

    def summarize(label: str, value: str, table: pd.DataFrame, tau_prior=None) -> None:
        jobs.append((label, value, table, tau_prior))

    def scenario_row(label: str, value: str, table: pd.DataFrame, tau_prior=None) -> dict:
        table, _ = rows_to_fit(spec, table)
        if len(table) < 2:
            return {"scenario": label, "value": value, "k": len(table), "note": "fewer than two studies"}
        if supports_exact(fit):
            proxy = _FitProxy(fit, table)
            model = exact_model(proxy, table, tau_prior=tau_prior)
            s = summarize_exact(model)
            engine = "exact"
        else:
            key = (rows_key(table), None if tau_prior is None else repr(tau_prior))
            if key not in fitted and tau_prior is None:  # only known variances changed: reweight the draws
                fitted[key] = reweighted_scenario(fit, table)
            if fitted.get(key) is None:
                priors = spec_priors(spec)
                if tau_prior is not None:
                    priors["tau"] = tau_prior
                fitted[key] = refit_summary(fit_table(spec, table, priors, predictive=False))
            s = fitted[key]
            engine = s["engine"]
        return {"scenario": label, "value": value, "k": len(table), "mu_mean": s["mu_mean"],
                "mu_low": s["mu_low"], "mu_high": s["mu_high"], "tau_median": s["tau_median"], "engine": engine}

    from bayes_il2.priors import prior_from_spec

    own = {"r": spec.data.prepost_r, "skewed": spec.data.skewed, "qualitative": spec.data.qualitative,
           "aggregates": spec.data.aggregates}

    def scenario_table(option: str, value: Any) -> pd.DataFrame:
        # the spec's own value gives the analysis's table: not built again (0.2-0.5 s a Treg table)
        if spec.data.kind in TREG_KINDS and value == own[option]:
            return base_table
        return build_effects(spec, registry, **{option: value})[0]

    for scenario in spec.sensitivity:
        if scenario.kind == "tau_prior":
            for table in scenario.values:
                prior = prior_from_spec(table)
                summarize(scenario.name, repr(prior), base_table, tau_prior=prior)
        elif scenario.kind == "prepost_r":
            for r in scenario.values:
                table = scenario_table("r", float(r))
                summarize(scenario.name, f"r = {r}", table)
        elif scenario.kind == "skewed_summaries":
            for policy in scenario.values:
                table = scenario_table("skewed", str(policy))
                summarize(scenario.name, f"skewed medians: {policy}", table)
        elif scenario.kind == "complete_only":
            summarize(scenario.name, "complete-data rows only", base_table[base_table["info"] == "complete"])
        elif scenario.kind == "qualitative_assumption":
            for policy in scenario.values:
                table = scenario_table("qualitative", str(policy))
                summarize(scenario.name, f"qualitative statements: {policy}", table)
        elif scenario.kind == "aggregates":
            for use in scenario.values:
                table = scenario_table("aggregates", bool(use))
                summarize(scenario.name, "published aggregates " + ("used" if use else "not used (per-study rows)"),
                          table)
        elif scenario.kind == "exclude_designs":
            kept = base_table[~base_table["design"].isin(scenario.values)]
            summarize(scenario.name, "without " + ", ".join(map(str, scenario.values)), kept)
        elif scenario.kind == "exclude_studies":
            kept = base_table[~base_table["study_id"].isin(scenario.values)]
            summarize(scenario.name, "without " + ", ".join(map(str, scenario.values)), kept)
        elif scenario.kind in ("exclude_flagged", "exclude_possible_overlap"):
            from bayes_il2.effects import quality

            kept, dropped = (quality.exclude_flagged(base_table, registry, tuple(scenario.values))
                             if scenario.kind == "exclude_flagged"
                             else quality.exclude_possible_overlap(base_table, registry))
            summarize(scenario.name, "without " + ", ".join(dropped) if dropped else "no study affected", kept)
        elif scenario.kind == "leave_one_out":
            for sid in base_table["study_id"].astype(str):
                summarize(scenario.name, f"without {sid}", base_table[base_table["study_id"].astype(str) != sid])
    from bayes_il2.runner import Chunk, run_chunks

    chunks = [Chunk(f"scenario-{i:04d}", i, i + 1) for i in range(len(jobs))]
    def scenario(chunk) -> pd.DataFrame:
        row = pd.DataFrame([scenario_row(*jobs[chunk.start])])
        release_memory()  # a scenario's draws and temporaries are freed before the next one samples
        return row

    return run_chunks(chunks, scenario)


def rows_key(table: pd.DataFrame) -> tuple:
    """A key equal for two tables with the same columns and the same values in the same row order
    (dtypes included: a table that differs only in a dtype is refitted, never wrongly reused)."""
    cols = sorted(map(str, table.columns))
    frame = table.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    frame = frame[cols]
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    except TypeError:  # cells that cannot be hashed (lists): a key equal to nothing else
        return (object(),)
    return tuple(cols), tuple(str(t) for t in frame.dtypes), len(frame), hashed


class _FitProxy:
    """A Fit seen through another data table (for exact refits in sensitivity analyses)."""

    def __init__(self, fit, data: pd.DataFrame):
        self._fit, self.data = fit, data

    def __getattr__(self, name):
        return getattr(self._fit, name)


# --------------------------------------------------------------------------- one analysis
#: Figures drawn from a diagnostics table (figure -> the table it reads); the others need only the fit,
#: the effects and the classical fit, so a figure process can draw them while the diagnostics are computed.
FIGURE_TABLES = {"ppc": "predictive", "pareto_k": "loo", "influence": "influence",
                 "prior_sensitivity": "tau_prior_grid"}
DIAGNOSTIC_FIGURES = tuple(FIGURE_TABLES)


def figures_for(spec: AnalysisSpec, fit, table: pd.DataFrame, diagnostics, label: str | None = None,
                classical=None, names: tuple[str, ...] | None = None) -> dict[str, object]:
    """The figures named in ``spec.figures`` that apply to this fit (natural units where the measure has
    them), each headed with the analysis title and the outcome ``label``.

    ``classical``: the REML + HKSJ fit of the same table, drawn under the Bayesian summaries of the
    forest plot (left out for meta-regressions, whose pooled mean is an intercept) and in the funnel plot.
    ``names``: draw only these of ``spec.figures`` (default: all).
    """
    from bayes_il2 import plots
    from bayes_il2.plots.titles import figure_heading, stamp_title

    def funnel_plot(*args, **kwargs):  # its module imports scipy.stats: only where a spec names it
        from bayes_il2.plots.funnel import funnel_plot

        return funnel_plot(*args, **kwargs)

    heading = figure_heading(spec.title, label)
    overlay = classical if not spec.model.covariates else None
    makers: dict[str, Callable[[], object]] = {
        "forest": lambda: plots.forest_plot(table, fit=fit, title=heading, classical=overlay),
        "funnel": lambda: funnel_plot(table, classical, measure=fit.measure),
        "forest_by_design": lambda: plots.forest_plot(table, fit=fit, title=heading, group_by="design",
                                                      classical=overlay),
        "parameter_forest": lambda: plots.parameter_forest(fit),
        "tau_posterior": lambda: plots.tau_posterior_plot(fit),
        "mu_prior_posterior": lambda: plots.mu_prior_posterior_plot(fit),
        "ppc": lambda: plots.ppc_plot(diagnostics.tables[FIGURE_TABLES["ppc"]], measure=fit.measure),
        "pareto_k": lambda: plots.pareto_k_plot(_with_pareto_k(diagnostics.tables[FIGURE_TABLES["pareto_k"]])),
        "influence": lambda: plots.influence_plot(diagnostics.tables[FIGURE_TABLES["influence"]],
                                                  measure=fit.measure),
        "prior_sensitivity": lambda: plots.prior_sensitivity_plot(
            diagnostics.tables[FIGURE_TABLES["prior_sensitivity"]], measure=fit.measure),
    }
    figures = {}
    for name in spec.figures:
        maker = makers.get(name)
        if maker is None or (names is not None and name not in names):
            continue
        try:
            titled_by_maker = name in ("forest", "forest_by_design")  # forest_plot draws the heading itself
            figures[name] = maker() if titled_by_maker else stamp_title(maker(), heading)
        except KeyError:
            continue  # the table behind the figure does not apply to this model
    return figures


def _without_pareto_k(loo: pd.DataFrame | None) -> bool:
    """True for the LOO table of an exact fit (exact leave-one-out: no Pareto k to draw)."""
    return loo is not None and bool(loo["pareto_k"].isna().all())


def _with_pareto_k(loo: pd.DataFrame) -> pd.DataFrame:
    """The LOO table where it has Pareto k; KeyError (figure skipped) for an exact fit's exact LOO."""
    if _without_pareto_k(loo):
        raise KeyError("pareto_k")
    return loo


def rendered_figures(spec: AnalysisSpec, fit, table: pd.DataFrame, diagnostics, label: str | None = None,
                     classical=None, names: tuple[str, ...] | None = None) -> dict[str, object]:
    """:func:`figures_for`, each figure drawn to the PNG that :func:`write_analysis` writes for it
    (:class:`bayes_il2.plots.io.RenderedFigure`)."""
    from bayes_il2.plots.io import PAGE_DPI, render_figure

    figures = figures_for(spec, fit, table, diagnostics, label, classical=classical, names=names)
    return {name: render_figure(fig, formats=("png",), dpi=PAGE_DPI) for name, fig in figures.items()}


class _Tables:
    """What the diagnostic figures read of a DiagnosticsReport: its tables (sent to a figure process)."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.tables = tables


#: What the figure process imports while the parent reads the data and fits (the figure makers of
#: :func:`figures_for`): about 0.4 s off the parent's path.
FIGURE_MODULES = ("matplotlib.pyplot", "bayes_il2.plots.forest", "bayes_il2.plots.checks",
                  "bayes_il2.plots.titles", "bayes_il2.plots.io")


def _draw_figures(receive: Callable[[], Any]) -> dict[str, object]:
    """In a figure process: import the figure makers, then wait for the fit (``receive``: spec, fit,
    effects table, label, classical fit; None when there is nothing to draw). The figures that need
    only the fit (the forest plot) are drawn in a child forked from here, which inherits the imports,
    and the diagnostic ones here once their tables arrive, so that two cores draw at once; all drawn
    to PNG (:func:`rendered_figures`)."""
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for name in FIGURE_MODULES:
        importlib.import_module(name)
    from PIL import Image

    Image.preinit()  # the image plugins a first PNG save imports (about 0.05 s): once here, not in each drawer
    job = receive()
    if job is None:
        return {}
    spec, fit, table, label, classical = job
    from bayes_il2.processes import can_fork, start_background

    first = tuple(n for n in spec.figures if n not in DIAGNOSTIC_FIGURES)
    diagnostic_wanted = any(n in DIAGNOSTIC_FIGURES for n in spec.figures)
    if not (first and diagnostic_wanted and can_fork()):  # one kind of figure (or no fork): drawn here in turn
        drawn = rendered_figures(spec, fit, table, None, label, classical=classical, names=first)
        if diagnostic_wanted:
            drawn.update(rendered_figures(spec, fit, table, _Tables(receive()), label, classical=classical,
                                          names=DIAGNOSTIC_FIGURES))
        return drawn
    # the fit's figures in a copy of this process (its imports inherited), the diagnostic ones here as
    # soon as their tables come: on two cores the forest plot no longer waits behind the others
    with start_background(rendered_figures, spec, fit, table, None, label, classical, first,
                          label=f"the process drawing {', '.join(first)}") as fit_figures:
        diagnostic = rendered_figures(spec, fit, table, _Tables(receive()), label, classical=classical,
                                      names=DIAGNOSTIC_FIGURES)
        return {**fit_figures.result(), **diagnostic}


def start_drawing(background: ExitStack, figures: Sequence[str]):
    """Fork the process that will draw ``figures`` (:func:`_draw_figures`), entered into ``background``,
    which stops it if the analysis ends before :func:`write_analysis` collects the figures (an error, a
    signal). None when no figure is named or this system cannot fork.

    The earlier it is forked, the sooner its imports are done: ``bayes-il2 fit`` forks it before it
    parses the priors (scipy), which the figure makers do not import, and passes it to
    :func:`run_analysis` (``drawing``)."""
    from bayes_il2.processes import can_fork, start_background

    if not figures or not can_fork():
        return None
    job = start_background(_draw_figures, inbox=True, label=f"the process drawing {', '.join(figures)}")
    return background.enter_context(job)


def _portable_fit(fit):
    """``fit`` without what cannot or need not leave the process: its PyMC model and compiled sampler
    (``model=None``, as :meth:`Fit.load` gives)."""
    import dataclasses

    if fit is not None and dataclasses.is_dataclass(fit):
        return dataclasses.replace(fit, model=None, refitter=None)
    return fit


def run_outcome(spec: AnalysisSpec, registry, outcome: str | None, progress: Progress,
                background: ExitStack | None = None, drawing=None) -> OutcomeResult:
    """Effects, fit, diagnostics and figures of one outcome of a spec.

    With ``background`` (where processes can be forked), a figure process is started first; it
    imports matplotlib and the figure makers while this process reads and fits. The fit (without its
    PyMC model) is then sent to it: it draws the figures that need only the fit while the diagnostics
    are computed, the diagnostic ones while the results are written, and they come back drawn
    (RenderedFigure). The process is entered into ``background``. ``drawing``: such a process the
    caller started already (:func:`start_drawing`, for ``spec.figures``).
    """
    if drawing is None and background is not None:
        drawing = start_drawing(background, spec.figures)
    result = _run_outcome(spec, registry, outcome, progress, drawing)
    if not result.drawing:  # nothing was sent to draw: let the process end
        _end_unused(drawing)
    return result


def _end_unused(drawing) -> None:
    """Tell a figure process (:func:`start_drawing`) that there is nothing to draw, and let it end."""
    if drawing is not None:
        drawing.send(None)
        drawing.result()


def _run_outcome(spec: AnalysisSpec, registry, outcome: str | None, progress: Progress,
                 drawing) -> OutcomeResult:
    from bayes_il2.diagnostics import diagnose

    label = outcome or spec.data.outcome or spec.data.measure
    release_memory()  # what the previous outcome freed goes back to the kernel before this one compiles
    table, excluded = build_effects(spec, registry, outcome=outcome)
    if len(table) == 0:
        return OutcomeResult(label=label, effects=table, excluded=excluded, summary=pd.DataFrame(),
                             headline="no usable data", notes=["no study has usable data for this outcome"])
    fitted, unfitted_note = rows_to_fit(spec, table)
    notes = [unfitted_note] if unfitted_note else []
    if len(fitted) == 0:
        return OutcomeResult(label=label, effects=table, excluded=excluded, summary=pd.DataFrame(),
                             headline="no usable data", notes=notes + ["no study has complete data to fit"])
    progress(f"{spec.name}[{label}]: fitting {spec.model.family} to {len(fitted)} studies")
    try:
        fit = fit_table(spec, fitted)
    except ModelError as exc:
        if "not identified" not in str(exc) and "needs at least" not in str(exc):
            raise
        progress(f"{spec.name}[{label}]: not fitted: {exc}")
        return OutcomeResult(label=label, effects=table, excluded=excluded, summary=pd.DataFrame(),
                             headline=f"not identified: {exc}", notes=notes + [f"not fitted: {exc}"])
    from bayes_il2.classical import classical_table
    from bayes_il2.errors import BayesIL2Error

    try:  # beside summary.csv: classical.csv; a classical failure never stops the Bayesian analysis
        classical_csv, classical = classical_table(fitted, fit.measure)
    except BayesIL2Error as exc:
        classical_csv, classical = pd.DataFrame({"model": ["classical"], "note": [str(exc)]}), None
    figure_label = outcome or spec.data.outcome
    if drawing is not None:
        drawing.send((spec, _portable_fit(fit), table, figure_label, classical))
    from bayes_il2.engine import natural_summary

    summary = natural_summary(fit)
    release_memory()  # between phases: the next one starts from a trimmed heap
    progress(f"{spec.name}[{label}]: diagnostics")
    diagnostics = diagnose(fit)
    if "pareto_k" in spec.figures and _without_pareto_k(diagnostics.tables.get("loo")):
        notes.append("pareto_k figure not drawn: the exact engine's leave-one-out is exact for every study "
                     "(no importance sampling, so no Pareto k); the influence table gives each study's weight")
    if drawing is not None and any(n in DIAGNOSTIC_FIGURES for n in spec.figures):
        drawing.send({name: t for name, t in diagnostics.tables.items() if name in FIGURE_TABLES.values()})
    extra: dict[str, pd.DataFrame] = {}
    if spec.sensitivity:
        release_memory()
        progress(f"{spec.name}[{label}]: {len(spec.sensitivity)} sensitivity analyses")
        extra["sensitivity"] = run_sensitivity(spec, registry, table, fit)
    if spec.model.family == "exnex":
        release_memory()
        progress(f"{spec.name}[{label}]: EXNEX beside three-level and design bias; model averaging")
        extra.update(pooling_tables(spec, table, fit))
    elif spec.model.family == "exnex_rate":
        release_memory()
        progress(f"{spec.name}[{label}]: EXNEX beside the single-arm and design-bias rate models; stacking")
        extra.update(rate_pooling_tables(spec, fitted, fit))
    extra["classical"] = classical_csv
    figures = {} if drawing is not None else figures_for(spec, fit, table, diagnostics, figure_label,
                                                         classical=classical)
    if spec.data.kind == "treg_partial" and fits_partial_rows():
        from bayes_il2 import treg_answer

        try:  # a table that cannot be made never stops the analysis; the note says why
            extra["predictions"] = treg_answer.predictions(fit, excluded)
            extra["scales"] = treg_answer.scales(fit, registry)
        except BayesIL2Error as exc:
            notes.append(f"predictions/scales not computed: {exc}")
        for _, p in extra.get("predictions", pd.DataFrame()).iterrows():
            notes.append(f"{p['disease']}: no Treg number; PREDICTION for a new study {p['median']:.3g} "
                         f"[{p['low']:.3g}, {p['high']:.3g}] ({p['scale']}), resting on the other diseases")
    if spec.data.kind in ("event_rate", "event_contrast"):
        from bayes_il2.safety.statements import CONTRAST_STATEMENT, exposure_statement, k_text

        statement = (exposure_statement(spec.model.exposure) if spec.data.kind == "event_rate"
                     else CONTRAST_STATEMENT)
        summary = summary.assign(exposure_model=statement)
        notes.append(f"exposure model: {statement}")
        multi = fit.settings.get("multi_arm_studies")
        if k_text(fit.settings):
            notes.append(k_text(fit.settings) + (f": the arms of {', '.join(multi)} share a study effect (nested, "
                                                 "not independent studies)" if multi else ""))
    caveats = list(fit.settings.get("caveats", []))
    from bayes_il2.modeling.identifiability import headline_prefix

    if caveats:
        by_parameter = {c["parameter"]: c["message"] for c in caveats}
        summary = summary.assign(caveat=summary["parameter"].map(by_parameter).fillna(""))
        notes += [f"{c['parameter']}: {c['message']}" for c in caveats]
        for c in caveats:
            progress(f"{spec.name}[{label}]: caveat: {c['parameter']}: {c['message']}")
    return OutcomeResult(label=label, effects=table, excluded=excluded, summary=summary, fit=fit,
                         diagnostics=diagnostics, figures=figures, extra_tables=extra, notes=notes,
                         drawing=[drawing] if drawing is not None else [],
                         headline=(headline_prefix(caveats) if caveats else "") + headline_of(fit, summary))


# --------------------------------------------------------------------------- processes
# What an analysis imports as it runs (found by listing sys.modules in the workers of a run of every
# bundled spec). A process that forks workers or outcome children imports them once before it forks,
# so each child inherits them copy-on-write instead of paying about 2 CPU seconds and 290 MB to import
# them again (issue #19).
WORKER_MODULES = (
    "bayes_il2.pipeline", "bayes_il2.api", "bayes_il2.fit", "bayes_il2.default_priors", "bayes_il2.runner",
    "bayes_il2.diagnostics", "bayes_il2.engine", "bayes_il2.exact", "bayes_il2.inference",
    "bayes_il2.compile_cache", "bayes_il2.function_cache", "bayes_il2.classical", "bayes_il2.safety",
    "bayes_il2.treg_answer",
    "bayes_il2.reanalysis", "bayes_il2.reanalysis.benefit_harm",
    *(f"bayes_il2.modeling.{name}" for name in (
        "nnhm", "three_level", "binomial_normal", "single_arm", "design_bias", "design_bias_rate", "exnex",
        "exnex_rate", "partial", "treg", "averaging", "structures", "identifiability")),
    # the lazy packages (bayes_il2._lazy) load their submodules on first use: named one by one
    *(f"bayes_il2.classical.{name}" for name in ("rma", "tables", "qprofile", "heterogeneity", "bias", "binary")),
    "bayes_il2.plots", "bayes_il2.plots.funnel", "bayes_il2.plots.titles", "bayes_il2.plots.reanalysis",
    *(f"bayes_il2.plots.{name}" for name in ("io", "forest", "checks", "direction", "parameters", "partial_rows")),
    "bayes_il2._arviz", "filelock", "netCDF4",
    "pymc", "pymc.printing", "pytensor", "pytensor.link.numba.dispatch", "nutpie", "numba", "arviz_stats",
    "arviz_base", "scipy.stats", "xarray", "pandas.io.formats.csvs",
)


def import_for_workers(modules: tuple[str, ...] = WORKER_MODULES) -> None:
    """Import ``modules`` in this process, before it forks workers that need them.

    Matplotlib is set to its non-interactive Agg backend first: the workers only write PNG files, and
    a GUI backend's state must not be shared by forked processes. No import here starts a thread (a
    thread does not survive a fork): ``tests/test_run_processes.py`` checks it.
    """
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    for name in modules:
        importlib.import_module(name)
    if "numba" in modules:
        # numba fills its typing and lowering registries on the first compile or cache load (about
        # 0.2 s and 60 modules); done here, every outcome child inherits them
        from numba.core.registry import cpu_target

        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()


@dataclass(frozen=True)
class _OutcomeFailed:
    """What a child process reports when its outcome raised: the two texts run_analysis keeps."""

    message: str  # str(exc), for the verdict
    formatted: str  # "ExceptionType: message", for run.json's error


class OutcomeError(Exception):
    """An outcome fitted in a child process raised (the child's exception, as text)."""

    def __init__(self, failed: _OutcomeFailed):
        super().__init__(failed.message)
        self.formatted = failed.formatted


def _detached(result: OutcomeResult) -> OutcomeResult:
    """``result`` ready to leave the process: the fit portable (:func:`_portable_fit`), the figures
    drawn to PNG bytes."""
    import dataclasses

    from bayes_il2.plots.io import PAGE_DPI, render_figure

    figures = {name: render_figure(fig, formats=("png",), dpi=PAGE_DPI) for name, fig in result.figures.items()}
    return dataclasses.replace(result, fit=_portable_fit(result.fit), figures=figures)


def _outcome_for_parent(spec: AnalysisSpec, registry, outcome: str | None,
                        progress: Progress) -> OutcomeResult | _OutcomeFailed:
    """Run in a child process: :func:`run_outcome`, detached for the trip back, or its exception as text."""
    try:
        return _detached(run_outcome(spec, registry, outcome, progress))
    except Exception as exc:  # noqa: BLE001 - raised again in the parent, as run_analysis reports it
        return _OutcomeFailed(str(exc), "".join(traceback.format_exception_only(type(exc), exc)).strip())


def run_outcome_in_child(spec: AnalysisSpec, registry, outcome: str | None, progress: Progress) -> OutcomeResult:
    """:func:`run_outcome` in a short-lived forked child process (issue #19).

    Each outcome compiles its own models (an EXNEX outcome three of them), and a process keeps
    what it compiled; in a child of its own, no process holds more than one outcome's models. The
    child is a worker of :func:`bayes_il2.processes.run_tasks`: it stops with this process, and a
    signal to this process stops it. The result is the in-process one with ``fit.model = None`` and
    the figures drawn (:class:`bayes_il2.plots.io.RenderedFigure`); the files written are identical.

    Raises
    ------
    OutcomeError
        The outcome raised in the child (message as in the child).
    Interrupted
        This process got a stop signal, or the child was killed by a signal.
    """
    from bayes_il2.errors import Interrupted
    from bayes_il2.processes import RunStopped, TaskError, run_tasks

    label = outcome or spec.data.outcome or spec.data.measure
    try:
        [result] = run_tasks([(_outcome_for_parent, (spec, registry, outcome, progress))], jobs=1,
                             labels=[f"{spec.name}[{label}]"])
    except RunStopped as stop:
        interrupted = Interrupted(stop.signum)
        interrupted.args = (str(stop),)
        raise interrupted from None
    if isinstance(result, TaskError):  # the child raised what is no Exception (SystemExit, GeneratorExit)
        raise OutcomeError(_OutcomeFailed(str(result), f"{type(result).__name__}: {result}"))
    if isinstance(result, _OutcomeFailed):
        raise OutcomeError(result)
    return result


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
                                      headline=result.headline(endpoint), notes=list(result.notes),
                                      reanalysis=result.analyses[endpoint]))
    return outcomes


def run_analysis(spec: AnalysisSpec, registry, out_root: Path, progress: Progress = lambda m: None, *,
                 target: Path | None = None, command: str = "run", reserve: tuple[str, ...] = (),
                 inferences: list[str] | None = None, outcome_processes: bool = False,
                 figure_processes: bool = False, inputs_key: str | None = None, drawing=None) -> AnalysisRun:
    """Run one spec and write ``<out_root>/<spec.name>/`` (or ``target``) atomically.

    ``command`` names what writes the folder (its marker says so: :mod:`bayes_il2._io`); an
    existing folder that the same command did not write, or that holds files it did not write,
    is never replaced (:class:`~bayes_il2.errors.OutputError`, checked before any fitting).

    ``outcome_processes``: fit each outcome of a multi-outcome spec in a forked child process
    (:func:`run_outcome_in_child`), so that the compiled models of one outcome are freed before the
    next compiles (the peak memory of ``bayes-il2 run``, issue #19). The process forks, so it must
    hold no thread a child would need: nutpie's sampler threads end with each sampling (a serial
    ``run`` forks after earlier analyses sampled in process), and the imports start none.

    ``figure_processes``: draw the figures in forked child processes while this one computes the
    diagnostics and writes the tables (``bayes-il2 fit``; where fork is unavailable they are drawn
    here). The files are the same; this process then never imports matplotlib. A child that fails
    fails the analysis as a figure drawn here would (``error``, nothing written); a signal stops it.

    ``inputs_key``: recorded in the folder's marker with a digest of every file written, so that a
    later ``bayes-il2 run`` with the same inputs keeps the folder (:mod:`bayes_il2.freshness`).

    ``drawing``: a figure process the caller started for ``spec.figures`` (:func:`start_drawing`, into
    its own ExitStack), used for the first outcome in place of one started here; told to end unused
    when the analysis draws nothing there (a reanalysis, outcome processes).
    """
    with ExitStack() as background:
        return _run_analysis(spec, registry, out_root, progress, target=target, command=command,
                             reserve=reserve, inferences=inferences, outcome_processes=outcome_processes,
                             background=background if figure_processes else None, inputs_key=inputs_key,
                             drawing=drawing)


def _run_analysis(spec: AnalysisSpec, registry, out_root: Path, progress: Progress, *, target: Path | None,
                  command: str, reserve: tuple[str, ...], inferences: list[str] | None, outcome_processes: bool,
                  background: ExitStack | None, inputs_key: str | None = None, drawing=None) -> AnalysisRun:
    from bayes_il2._io import check_replaceable
    from bayes_il2.processes import TaskError

    check_replaceable(target or Path(out_root) / spec.name, command)
    inferences = list(inferences or [])
    started = time.perf_counter()

    def failed(text: str, message: str) -> AnalysisRun:  # "ValueError: ...", and str() of the exception
        return AnalysisRun(spec=spec, outcomes=[], status="error", verdict=f"ERROR: {message}",
                           seconds=time.perf_counter() - started, inferences=inferences, error=text)

    try:
        labels = [spec.data.outcome] + list(spec.data.outcomes) if spec.data.outcome else [None]
        if spec.model.family == "reanalysis" or (outcome_processes and len(labels) > 1):
            _end_unused(drawing)
        if spec.model.family == "reanalysis":
            outcomes = run_reanalysis(spec, registry, progress)
        elif outcome_processes and len(labels) > 1:
            import_for_workers()  # once in this process, not again in each child
            freeze_heap()
            outcomes = [run_outcome_in_child(spec, registry, o, progress) for o in labels]
        else:
            outcomes = [run_outcome(spec, registry, o, progress, background, drawing=drawing if i == 0 else None)
                        for i, o in enumerate(labels)]
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing analysis must not stop the others
        return failed(exc.formatted if isinstance(exc, OutcomeError)
                      else "".join(traceback.format_exception_only(type(exc), exc)).strip(), str(exc))
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
    _analysis_tables(run, registry)
    release_memory()
    progress(f"{spec.name}: writing results")
    try:
        run.out_dir = write_analysis(run, out_root, target=target, command=command, reserve=reserve,
                                     inputs_key=inputs_key)
    except TaskError as exc:  # a figure process failed: as if the figure had failed here
        return failed(str(exc), exc.message)
    except OSError as exc:  # the previous results folder is left as it was (atomic swap)
        run.status, run.error = "error", f"writing results failed: {exc}"
        run.verdict = f"ERROR: {run.error}"
    return run


def _analysis_tables(run: AnalysisRun, registry) -> None:
    """Analysis-level tables: published AE rates beside the pooled ones (single-arm AE rates) and the
    benefit-harm decision table (trial reanalysis)."""
    spec = run.spec
    if isinstance(registry, UserTable) or not run.outcomes:
        return
    if spec.data.kind == "event_rate" and hasattr(registry, "meta_analyses"):
        from bayes_il2.safety import published_comparison, published_explanations

        results = {o.label: (o.summary, o.effects, getattr(o.fit, "settings", {}) or {}) for o in run.outcomes}
        table = published_comparison(registry.meta_analyses, results)
        run.tables["published_comparison"] = table
        run.notes.extend(published_explanations(table))
    elif spec.model.family == "reanalysis":
        from bayes_il2.reanalysis.benefit_harm import JOINT_RULE, decision_summary, decision_table

        reused = {spec.data.study: {o.label: o.reanalysis for o in run.outcomes if o.reanalysis is not None}}
        table = decision_table(registry, reused=reused)
        run.tables["decision_table"] = table
        if len(table):
            run.notes.append("decision table: benefit (primary responder endpoint, each prior) jointly with the "
                             "infection and serious/severe AE contrasts (neutral prior); " + JOINT_RULE)
            run.notes.extend(decision_summary(table))


# --------------------------------------------------------------------------- writing
def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_with(path, lambda tmp: df.to_csv(tmp, index=False))


def _write_figures(outcome: OutcomeResult, where: Path) -> None:
    """The outcome's figures as ``<name>.png``, those a child process drew (waited for now) included."""
    from bayes_il2.plots.io import PAGE_DPI, save_figure

    figures = dict(outcome.figures)
    while outcome.drawing:
        figures.update(outcome.drawing.pop(0).result())
    for name, figure in figures.items():
        save_figure(figure, where / name, formats=("png",), dpi=PAGE_DPI)


def write_analysis(run: AnalysisRun, out_root: Path, *, target: Path | None = None, command: str = "run",
                   reserve: tuple[str, ...] = (), inputs_key: str | None = None) -> Path:
    """Write one analysis folder atomically: summary, effects, exclusions, diagnostics, posterior, figures.

    The folder is ``<out_root>/<spec.name>`` unless ``target`` is given; its marker names
    ``command`` (see :func:`bayes_il2._io.atomic_directory`).

    Figures still being drawn by a child process (``OutcomeResult.drawing``) are waited for after the
    tables are written; a failed one raises :class:`~bayes_il2.processes.TaskError` and nothing is
    written (the staging folder is removed, a previous folder stays).

    ``inputs_key`` (:func:`bayes_il2.freshness.inputs_key`): recorded in the marker, with the digest
    of every file, for a later run's up-to-date check.
    """
    target = Path(target) if target is not None else Path(out_root) / run.spec.name
    multi = len(run.outcomes) > 1
    fresh = {"inputs_key": inputs_key} if inputs_key is not None else {}
    with atomic_directory(target, command, reserve=reserve, digests=inputs_key is not None, analysis=run.spec.name,
                          **fresh) as tmp:
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
            _write_figures(o, where)
        if multi and summaries:
            _write_csv(pd.concat(summaries, ignore_index=True), tmp / "summary.csv")
        for name, table in run.tables.items():
            _write_csv(table, tmp / f"{name}.csv")
        meta = {"analysis": run.spec.name, "title": run.spec.title, "question": run.spec.question,
                "status": run.status,
                "verdict": run.verdict, "headline": run.headline, "seconds": round(run.seconds, 2),
                "spec": run.spec.source,
                "outcomes": [o.label for o in run.outcomes],
                "notes": {o.label: list(o.notes) for o in run.outcomes if o.notes},
                "headlines": {o.label: o.headline for o in run.outcomes if o.headline},
                "inferences": list(run.inferences),
                "analysis_notes": list(run.notes),
                "engines": {o.label: o.fit.settings.get("engine", "mcmc") for o in run.outcomes if o.fit is not None}}

        exposure = {o.label: str(o.summary["exposure_model"].iloc[0]) for o in run.outcomes
                    if "exposure_model" in o.summary.columns and len(o.summary)}
        if exposure:
            meta["exposure_model"] = exposure
        (tmp / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return target

