"""Degradation simulation for partially reported results (issue #14).

Each replicate draws mu ~ N(0.5, 0.5), tau ~ HalfNormal(0.3) (the analysis priors, so that the
truth's posterior CDF is uniform for a calibrated model), k studies with n patients, CVs and a
pre-post correlation r = 0.5 giving a ROMC standard error, theta_i ~ N(mu, tau^2),
y_i ~ N(theta_i, se_i^2). Then the reporting of half of the studies is degraded at random:

- ``bound``:  only "more than c" or "less than c" for a threshold c drawn independently of the
  estimate from {0, 0.25, ..., 1} (coarsened at random, Heitjan & Rubin 1991, Ann Stat 19:2244-2253,
  so the bound's likelihood is the right one); ``bound_mode="floor"`` instead reports "more than x"
  with x the estimate rounded down to a multiple of 0.25 (what papers often print: NOT coarsened at
  random, since the upper end x + 0.25 is known but discarded; it biases mu upwards);
- ``pvalue``: only the two-sided P of the paired test, printed to 3 decimals (or "P < 0.001"),
  with the direction known (a rise or a fall);
- ``no_spread`` (MCMC part only): the estimate and n, no SD (the CVs are latent).

Three posteriors of mu are compared: complete data (every study as generated), partial (the
degraded studies enter through their likelihoods) and dropped (the degraded studies removed).
Bounds and P-values have a known se, so the exact engine (:func:`bayes_il2.exact.nnhm_partial`)
gives those posteriors without sampling error; missing SDs need the latent-se MCMC model
(:func:`bayes_il2.modeling.build_nnhm`), run on fewer replicates.

Per replicate: the 95% interval width of mu, whether it covers the true mu, the distance to the
complete-data posterior (|difference of means| / complete-data SD, and the Kolmogorov distance
between the two CDFs), and the PIT value F_partial(mu_true) (uniform for a calibrated model: a fast
exact-engine version of simulation-based calibration, Talts et al. 2018).

Plain functions so that they can move onto the Dask simulation runner:
``simulate_complete``, ``degrade``, ``exact_replicate``, ``run_exact``, ``mcmc_study``.

Usage::

    python benchmarks/partial_simulation.py --replicates 200 --mcmc 12
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bayes_il2 import exact  # noqa: E402
from bayes_il2.priors import HalfNormal, Normal  # noqa: E402

MU_PRIOR, TAU_PRIOR = Normal(0.5, 0.5), HalfNormal(0.3)
R_TRUE = 0.5


def simulate_complete(rng: np.random.Generator, k: int = 8, nuisance: str = "fixed") -> tuple[pd.DataFrame, float]:
    """k complete ROMC rows (with n, CVs) and the true mu (the true tau in ``attrs["tau"]``).

    ``nuisance="fixed"``: r = 0.5 and log CV ~ N(log 0.4, 0.25^2); ``"prior"``: r, the CV
    distribution's mean and SD drawn from the model's priors (Beta(2, 2), N(log 0.4, 1),
    HalfNormal(0.5)), as simulation-based calibration of the latent-se model requires.
    """
    mu = float(np.asarray(MU_PRIOR.sample(rng, None)))
    tau = float(np.asarray(TAU_PRIOR.sample(rng, None)))
    n = rng.integers(8, 31, size=k)
    if nuisance == "prior":
        r = rng.beta(2.0, 2.0)
        m_cv, s_cv = rng.normal(np.log(0.4), 1.0), abs(rng.normal(0.0, 0.5))
    else:
        r, m_cv, s_cv = R_TRUE, np.log(0.4), 0.25
    cv_pre, cv_post = np.exp(rng.normal(m_cv, s_cv, size=(2, k)))
    var = (cv_pre ** 2 + cv_post ** 2 - 2 * r * cv_pre * cv_post) / n
    theta = rng.normal(mu, tau, size=k)
    y = rng.normal(theta, np.sqrt(var))
    table = pd.DataFrame({"study_id": [f"s{i}" for i in range(k)], "measure": "ROMC", "info": "complete",
                          "yi": y, "vi": var, "n": n.astype(float), "test": "paired",
                          "cv_pre": cv_pre, "cv_post": cv_post})
    table.attrs["tau"] = tau
    return table, mu


def degrade(table: pd.DataFrame, rng: np.random.Generator, kinds=("bound", "pvalue"),
            fraction: float = 0.5, bound_mode: str = "car") -> pd.DataFrame:
    """Degrade the reporting of a random ``fraction`` of the rows to one of ``kinds`` each."""
    out = table.copy()
    for col in ("y_low", "y_high", "z_low", "z_high", "direction"):
        out[col] = np.nan
    k = len(out)
    which = rng.choice(k, size=int(round(fraction * k)), replace=False)
    for i in which:
        kind = str(rng.choice(list(kinds)))
        y, v = out.at[i, "yi"], out.at[i, "vi"]
        if kind == "bound" and bound_mode == "floor":
            out.loc[i, ["info", "y_low", "y_high", "yi"]] = ["bound", np.floor(4 * y) / 4, np.inf, np.nan]
        elif kind == "bound":
            c = float(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]))
            low, high = (c, np.inf) if y > c else (-np.inf, c)
            out.loc[i, ["info", "y_low", "y_high", "yi"]] = ["bound", low, high, np.nan]
        elif kind == "pvalue":
            z = y / np.sqrt(v)
            p = 2 * stats.norm.sf(abs(z))
            sign = 1.0 if z >= 0 else -1.0
            if p < 0.001:
                lo, hi = stats.norm.isf(0.001 / 2), np.inf
            else:
                printed = round(p, 3)
                p_hi, p_lo = min(printed + 0.0005, 1.0), max(printed - 0.0005, 0.001)
                lo, hi = stats.norm.isf(p_hi / 2), stats.norm.isf(p_lo / 2)
            z_low, z_high = (lo, hi) if sign > 0 else (-hi, -lo)
            out.loc[i, ["info", "z_low", "z_high", "direction", "yi"]] = ["pvalue", z_low, z_high, sign, np.nan]
        else:  # no_spread: estimate and n only, the CVs latent
            out.loc[i, ["info", "vi", "cv_pre", "cv_post"]] = ["no_spread", np.nan, np.nan, np.nan]
        # a degraded row reports neither its CVs nor, for bounds and P-values, its estimate
        out.loc[i, ["cv_pre", "cv_post"]] = [np.nan, np.nan]
    return out


def _kolmogorov(a, b, lo: float, hi: float) -> float:
    x = np.linspace(lo, hi, 2001)
    return float(np.max(np.abs(a(x) - b(x))))


def _summarise(name: str, cdf, mean: float, interval: tuple[float, float], ref, mu_true: float) -> dict:
    lo, hi = ref.mu.interval(0.9999)
    return {f"{name}_mean": mean, f"{name}_width": interval[1] - interval[0],
            f"{name}_cover": float(interval[0] <= mu_true <= interval[1]),
            f"{name}_dist": abs(mean - ref.mu.mean) / ref.mu.sd,
            f"{name}_ks": _kolmogorov(cdf, ref.mu.cdf, lo, hi)}


def exact_replicate(seed: int, k: int = 8, bound_mode: str = "car") -> dict:
    """One replicate of the exact-engine study (bounds and P-values)."""
    rng = np.random.default_rng(seed)
    table, mu_true = simulate_complete(rng, k)
    degraded = degrade(table, rng, bound_mode=bound_mode)
    complete = exact.nnhm(table["yi"], table["vi"], TAU_PRIOR, MU_PRIOR)
    partial = exact.nnhm_partial(degraded, TAU_PRIOR, MU_PRIOR)
    kept = degraded[degraded["info"] == "complete"]
    dropped = exact.nnhm(kept["yi"], kept["vi"], TAU_PRIOR, MU_PRIOR)
    row = {"seed": seed, "mu_true": mu_true, "complete_width": np.ptp(complete.mu.interval()),
           "complete_cover": float(complete.mu.interval()[0] <= mu_true <= complete.mu.interval()[1]),
           "pit_partial": float(partial.mu.cdf(mu_true)), "pit_complete": float(complete.mu.cdf(mu_true))}
    row.update(_summarise("partial", partial.mu.cdf, partial.mu.mean, partial.mu.interval(), complete, mu_true))
    row.update(_summarise("dropped", dropped.mu.cdf, dropped.mu.mean, dropped.mu.interval(), complete, mu_true))
    return row


def run_exact(replicates: int = 200, seed: int = 2026, k: int = 8, bound_mode: str = "car") -> pd.DataFrame:
    return pd.DataFrame([exact_replicate(seed + i, k, bound_mode) for i in range(replicates)])


def mcmc_study(replicates: int = 12, seed: int = 4040, k: int = 8, draws: int = 500,
               nuisance: str = "fixed") -> pd.DataFrame:
    """Missing SDs (latent se) next to bounds and P-values, fitted by MCMC; the complete-data and
    dropped posteriors by the exact engine. One compiled model serves every replicate (the degraded
    positions and kinds are fixed: rows 0-1 no_spread, 2 bound, 3 pvalue) so only data change."""
    from bayes_il2.modeling import build_nnhm, fit_built, refit

    def make(i: int):
        rng = np.random.default_rng(seed + i)
        table, mu_true = simulate_complete(rng, k, nuisance)
        out = table.copy()
        for col in ("y_low", "y_high", "z_low", "z_high", "direction"):
            out[col] = np.nan
        plan = {0: "no_spread", 1: "no_spread", 2: "bound", 3: "pvalue"}
        for j, kind in plan.items():
            one = degrade(table.iloc[[j]].reset_index(drop=True), np.random.default_rng(seed + i), kinds=(kind,),
                          fraction=1.0)
            for col in one.columns:
                out.at[j, col] = one.at[0, col]
        return table, out, mu_true

    rows, fit = [], None
    priors = {"mu": MU_PRIOR, "tau": TAU_PRIOR}
    for i in range(replicates):
        table, degraded, mu_true = make(i)
        degraded["direction"] = degraded["direction"].where(degraded["info"] == "pvalue")
        if fit is None:
            fit = fit_built(build_nnhm(degraded, priors=priors), draws=draws, tune=draws, chains=2,
                            target_accept=0.95, seed=seed)
            this = fit
        else:
            this = refit(fit, degraded, predictive=False)
        draws_mu = np.asarray(this.idata["posterior"]["mu"]).ravel()
        complete = exact.nnhm(table["yi"], table["vi"], TAU_PRIOR, MU_PRIOR)
        kept = degraded[degraded["info"] == "complete"]
        dropped = exact.nnhm(kept["yi"], kept["vi"], TAU_PRIOR, MU_PRIOR)
        interval = tuple(np.quantile(draws_mu, [0.025, 0.975]))
        row = {"seed": seed + i, "mu_true": mu_true, "complete_width": np.ptp(complete.mu.interval()),
               "complete_cover": float(complete.mu.interval()[0] <= mu_true <= complete.mu.interval()[1]),
               "pit_partial": float((draws_mu < mu_true).mean()),
               "pit_tau": float((np.asarray(this.idata["posterior"]["tau"]).ravel() < table.attrs["tau"]).mean()),
               "divergences": int(np.asarray(this.idata["sample_stats"]["diverging"]).sum())}
        ecdf = (lambda x, d=np.sort(draws_mu): np.searchsorted(d, x, side="right") / d.size)
        row.update(_summarise("partial", ecdf, float(draws_mu.mean()), interval, complete, mu_true))
        row.update(_summarise("dropped", dropped.mu.cdf, dropped.mu.mean, dropped.mu.interval(), complete, mu_true))
        rows.append(row)
    return pd.DataFrame(rows)


def table_markdown(results: pd.DataFrame) -> str:
    """Mean (and, for distances, median) over replicates of each analysis."""
    lines = ["| analysis | 95% width of mu | coverage of true mu | distance to complete (mean / median, "
             "in complete-data SDs) | Kolmogorov distance to complete (mean) |",
             "|---|---|---|---|---|",
             f"| complete data | {results['complete_width'].mean():.3f} | {results['complete_cover'].mean():.3f} | 0 | 0 |"]
    for name, label in (("partial", "partial information"), ("dropped", "degraded studies dropped")):
        lines.append(f"| {label} | {results[f'{name}_width'].mean():.3f} | {results[f'{name}_cover'].mean():.3f} | "
                     f"{results[f'{name}_dist'].mean():.3f} / {results[f'{name}_dist'].median():.3f} | "
                     f"{results[f'{name}_ks'].mean():.3f} |")
    closer = (results["partial_dist"] < results["dropped_dist"]).mean()
    lines.append("")
    lines.append(f"Partial closer to complete than dropped (mean distance) in {closer:.0%} of replicates; "
                 f"Kolmogorov distance smaller in {(results['partial_ks'] < results['dropped_ks']).mean():.0%}.")
    return "\n".join(lines)


def pit_check(pit: np.ndarray, bins: int = 10) -> tuple[np.ndarray, float, float]:
    counts = np.histogram(pit, bins=bins, range=(0, 1))[0]
    return counts, float(stats.chisquare(counts).pvalue), float(stats.kstest(pit, "uniform").pvalue)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--mcmc", type=int, default=12)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--bound-mode", default="car", choices=["car", "floor"])
    parser.add_argument("--nuisance", default="fixed", choices=["fixed", "prior"])
    args = parser.parse_args(argv)
    if args.replicates:
        t0 = time.perf_counter()
        res = run_exact(args.replicates, k=args.k, bound_mode=args.bound_mode)
        t1 = time.perf_counter()
        counts, chi_p, ks_p = pit_check(res["pit_partial"].to_numpy())
        print(f"## exact engine: {args.replicates} replicates, k = {args.k}, bounds {args.bound_mode}, "
              f"{t1 - t0:.1f} s", flush=True)
        print(table_markdown(res))
        print(f"PIT of true mu under the partial posterior, 10 bins: {counts.tolist()}; chi-square p = {chi_p:.3f}, "
              f"KS p = {ks_p:.3f}", flush=True)
    if args.mcmc:
        t2 = time.perf_counter()
        mres = mcmc_study(args.mcmc, k=args.k, nuisance=args.nuisance)
        t3 = time.perf_counter()
        print(f"## MCMC (missing SDs + bound + P-value): {args.mcmc} replicates, {t3 - t2:.1f} s")
        print(table_markdown(mres))
        for var in ("pit_partial", "pit_tau"):
            counts, chi_p, ks_p = pit_check(mres[var].to_numpy(), bins=5)
            print(f"{var} (nuisance {args.nuisance}), 5 bins: {counts.tolist()}; chi-square p = {chi_p:.3f}, "
                  f"KS p = {ks_p:.3f}")
        print(f"divergent transitions: {int(mres['divergences'].sum())} in {int((mres['divergences'] > 0).sum())} fits")


if __name__ == "__main__":
    main()
