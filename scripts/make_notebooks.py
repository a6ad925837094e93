"""Write the tutorial notebooks in notebooks/ from the cell lists below (run after editing this file).

The notebooks are stored unexecuted; the test suite executes each one (tests/test_notebooks.py).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "notebooks"

# Small sampler settings keep every notebook under a minute; real analyses use the defaults.
FAST = "SAMPLER = dict(draws=400, tune=400, chains=2, seed=1)"

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quickstart: pooled Treg expansion under low-dose IL-2\n\n"
               "Load the bundled evidence registry, compute the within-arm Treg expansion (log ratio of "
               "post- to pre-treatment means, ROMC) for every LD-IL-2 arm, pool it with a Bayesian "
               "random-effects model, and draw the forest plot."),
        ("code", "import matplotlib\nmatplotlib.use('Agg')\nimport bayes_il2\n"
                 "from bayes_il2 import effects, plots\nfrom bayes_il2.priors import HalfNormal, Normal\n" + FAST),
        ("code", "registry = bayes_il2.load_registry()\nprint('registry version', registry.version[:12])\n"
                 "registry.studies.groupby('disease').size()"),
        ("md", "The pre-post correlation `r` is not reported by the trials; 0.5 is an explicit assumption "
               "(notebook 05 and the `treg_sensitivity` analysis vary it)."),
        ("code", "table, excluded = effects.treg_expansion_effects(registry, measure='ROMC', r=0.5)\n"
                 "print(len(table), 'arms used;', len(excluded), 'rows excluded')\n"
                 "table[['study_id', 'disease', 'design', 'yi', 'vi']]"),
        ("code", "fit = bayes_il2.meta_analysis(table, model='nnhm', tau_prior=HalfNormal(0.5),\n"
                 "                              mu_prior=Normal(0, 2), **SAMPLER)\n"
                 "fit.summary(['mu', 'tau', 'theta_new'], scale='natural')"),
        ("code", "fig = plots.forest_plot(table, fit=fit, title='Treg expansion (ratio of means)')\n"
                 "assert fig.axes, 'the forest plot has axes'"),
    ],
    "02_adverse_events.ipynb": [
        ("md", "# Adverse events under low-dose IL-2\n\nSingle-arm event rates (exact binomial "
               "likelihoods, logit random effects) and the LD-IL-2 vs placebo contrast "
               "(binomial-normal model, no continuity corrections)."),
        ("code", "import matplotlib\nmatplotlib.use('Agg')\nimport bayes_il2\nfrom bayes_il2 import effects\n" + FAST),
        ("code", "registry = bayes_il2.load_registry()\n"
                 "rates, _ = effects.event_rate_effects(registry, 'any_ae')\n"
                 "rates[['study_id', 'disease', 'events', 'n']]"),
        ("code", "fit_rates = bayes_il2.meta_analysis(rates, model='single_arm', **SAMPLER)\n"
                 "fit_rates.summary(['p_pooled', 'p_new'])"),
        ("code", "contrast, _ = effects.event_contrast_table(registry, 'infection')\n"
                 "contrast[['study_id', 'events_t', 'n_t', 'events_c', 'n_c']]"),
        ("code", "fit_or = bayes_il2.meta_analysis(contrast, model='binomial_normal', **SAMPLER)\n"
                 "fit_or.summary(['mu', 'tau'], scale='natural')"),
    ],
    "03_pss_reanalysis.ipynb": [
        ("md", "# Bayesian reanalysis of the primary Sjögren syndrome trial\n\nHe et al. 2022 (JAMA Netw "
               "Open): ESSDAI response 20/30 vs 8/30 at week 24. How probable is a benefit under a "
               "skeptic's, a neutral reader's and an enthusiast's prior?"),
        ("code", "import matplotlib\nmatplotlib.use('Agg')\nfrom bayes_il2 import reanalysis"),
        ("code", "essdai = reanalysis.BinaryEndpoint(events_t=20, n_t=30, events_c=8, n_c=30,\n"
                 "                                   name='ESSDAI response, week 24')\n"
                 "table = reanalysis.reanalyze(essdai, ['skeptical', 'neutral', 'enthusiastic'],\n"
                 "                              clinically_important_or=2.0)\ntable"),
        ("md", "The full reanalysis of every endpoint the registry holds for the trial, with the "
               "meta-analytic-predictive prior from the other LD-IL-2 RCTs:"),
        ("code", "import bayes_il2\nresult = reanalysis.reanalyze_study(bayes_il2.load_registry(), 'He2022_pSS', None,\n"
                 "                                    priors=['skeptical', 'neutral', 'enthusiastic'])\n"
                 "list(result.tables())"),
    ],
    "04_your_own_data.ipynb": [
        ("md", "# Your own meta-analysis from a CSV\n\nA CSV with `study_id`, `yi` and `vi` (or `se`), "
               "optionally `label`, `group` and covariates, is all you need. The same works from the "
               "command line: `bayes-il2 fit effects.csv`."),
        ("code", "import matplotlib\nmatplotlib.use('Agg')\nimport tempfile, pathlib\nimport bayes_il2\n"
                 "from bayes_il2 import plots\nfrom bayes_il2.userdata import read_effects_csv\n" + FAST),
        ("code", "csv = pathlib.Path(tempfile.mkdtemp()) / 'eight_schools.csv'\n"
                 "csv.write_text('study_id,yi,se\\nA,28,15\\nB,8,10\\nC,-3,16\\nD,7,11\\nE,-1,9\\nF,1,11\\nG,18,10\\nH,12,18\\n')\n"
                 "table = read_effects_csv(csv)\ntable"),
        ("code", "from bayes_il2.priors import HalfCauchy, Normal\n"
                 "fit = bayes_il2.meta_analysis(table, model='nnhm', tau_prior=HalfCauchy(5), mu_prior=Normal(0, 100), **SAMPLER)\n"
                 "fit.summary(['mu', 'tau'])"),
        ("md", "Check the MCMC answer against the exact numerical-integration engine:"),
        ("code", "from bayes_il2 import exact\npost = exact.nnhm(table['yi'], table['vi'], HalfCauchy(5), Normal(0, 100))\n"
                 "post.summary()"),
        ("code", "from bayes_il2.diagnostics import diagnose\nreport = diagnose(fit)\nprint(report.verdict)\n"
                 "fig = plots.forest_plot(table, fit=fit)"),
    ],
    "05_extending_a_model.ipynb": [
        ("md", "# Extending a model in PyMC\n\nEvery fit keeps its PyMC model (`fit.model`), and the "
               "builders return an editable `BuiltModel`. Here we replace the normal random effects of "
               "the NNHM by Student-t random effects (robust to an outlying study), written directly in "
               "PyMC with the package's priors, sampled with the package's sampler."),
        ("code", "import numpy as np, pymc as pm\nimport bayes_il2\nfrom bayes_il2 import effects\n"
                 "from bayes_il2.inference import sample\nfrom bayes_il2.priors import HalfNormal, Normal"),
        ("code", "registry = bayes_il2.load_registry()\ntable, _ = effects.treg_expansion_effects(registry, r=0.5)\n"
                 "coords = {'study_id': table['study_id'].tolist()}\n"
                 "with pm.Model(coords=coords) as robust:\n"
                 "    mu = Normal(0, 2).to_pymc('mu')\n    tau = HalfNormal(0.5).to_pymc('tau')\n"
                 "    z = pm.StudentT('z', nu=4, mu=0, sigma=1, dims='study_id')\n"
                 "    theta = pm.Deterministic('theta', mu + tau * z, dims='study_id')\n"
                 "    pm.Normal('y', theta, sigma=np.sqrt(table['vi'].to_numpy()), observed=table['yi'].to_numpy(), dims='study_id')\n"
                 "idata = sample(robust, draws=400, tune=400, chains=2, seed=1)\n"
                 "float(idata['posterior']['mu'].mean())"),
        ("md", "Compare with the normal random-effects fit: the pre-post correlation can also be given a "
               "prior instead of being fixed (the `treg` family's `r_prior`)."),
        ("code", "normal = bayes_il2.meta_analysis(table, model='nnhm', tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2),\n"
                 "                                 draws=400, tune=400, chains=2, seed=1)\n"
                 "normal.summary(['mu', 'tau'])"),
    ],
    "06_effect_sizes.ipynb": [
        ("md", "# Effect sizes from what papers report\n\nTrials rarely print exactly what a meta-analysis "
               "needs. This notebook turns typical reports into `yi`/`vi` with `bayes_il2.effects` "
               "(every function is checked against a published number: `docs/effects_validation.md`)."),
        ("code", "import numpy as np\nfrom bayes_il2 import effects"),
        ("md", "Two-group counts: the continuity correction is an explicit choice (here only for the "
               "zero-cell trial)."),
        ("code", "lor = effects.log_odds_ratio(ai=[5, 0], n1i=[100, 20], ci=[10, 3], n2i=[100, 20],\n"
                 "                              correction='only0')\n"
                 "print(np.round(lor.yi, 4), np.round(lor.vi, 4), lor.corrected)"),
        ("md", "A median (IQR) instead of a mean (SD): test for skewness first (Shi et al. 2023). A "
               "right-skewed count passes as log-normal, and the log-normal conversion (Shi et al. 2020b) "
               "then replaces the normal-theory one."),
        ("code", "five = dict(minimum=2.0, q1=4.0, q3=14.0, maximum=20.0)\n"
                 "print(effects.skewness_test(6.0, 20, **five))\n"
                 "print(effects.skewness_test(6.0, 20, **five, dist='lognormal'))\n"
                 "effects.mean_sd_from_five_numbers(2.0, 4.0, 6.0, 14.0, 20.0, 20, dist='lognormal')"),
        ("md", "An SD from a 95% CI of a mean (t-based below n = 60), and two subgroups combined into one "
               "arm (Cochrane Handbook)."),
        ("code", "print(effects.sd_from_ci(30.0, 34.2, 25))\n"
                 "effects.combine_groups(10, 11.8, 2.4, 20, 15.3, 3.2)"),
        ("md", "Pre-post data within one arm: the pre-post correlation is rarely reported, so run the "
               "measure over several values."),
        ("code", "effects.over_r('SMCR', [0.2, 0.5, 0.8], m_pre=5.1, sd_pre=1.9, m_post=9.8, sd_post=3.2, ni=29)"),
    ],
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                                 for kind, src in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
