"""Write the tutorial notebooks in notebooks/ from the cell lists below, execute them and store them
WITH their outputs (run after editing this file; ``--no-execute`` writes them bare).

Each notebook tells a story: the question, why this model, how to read each table and figure, and
what to do when a check fails. tests/test_notebooks.py executes each one again and fails on a FAIL
verdict that the markdown cell after it does not explain.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "notebooks"

# Small sampler settings keep every notebook under a minute; real analyses use the defaults
# (4 chains x 1000 draws). A high target acceptance avoids divergences with few studies.
FAST = "SAMPLER = dict(draws=500, tune=500, chains=2, seed=1, target_accept=0.95)"
SETUP = "import matplotlib\nmatplotlib.use('Agg')\n%matplotlib inline\nimport bayes_il2\n"
CHECKS_MD = ("**If a check fails.** Each check's row says what to do. Divergent transitions: raise "
             "`target_accept` (0.99) and, if they persist, give tau a tighter prior. R-hat above 1.01 or a "
             "small ESS: more `tune` and `draws`. A study outside its predictive interval: check its numbers "
             "and population first; it may not belong in the pool. Never report a FAIL without saying why. "
             "The notebooks sample 2 x 500 draws to stay fast: a WARN on ESS or R-hat here goes away with the "
             "defaults (4 x 1000 draws), as in the README example, which passes every check.")

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quickstart: does low-dose IL-2 expand regulatory T cells?\n\n"
               "**Question.** Across the LD-IL-2 arms of the published trials, by how much do regulatory T "
               "cells (Tregs) rise from before to after a course of treatment?\n\n"
               "**Plan.** Load the bundled evidence registry, compute the within-arm change for every LD-IL-2 "
               "arm as a log ratio of post- to pre-treatment means (ROMC), pool the arms with a Bayesian "
               "random-effects model, check the fit, and draw the forest plot."),
        ("code", SETUP + "from bayes_il2 import effects, plots, diagnose\n" + FAST),
        ("code", "registry = bayes_il2.load_registry()\nprint('registry version', registry.version[:12])\n"
                 "registry.studies.groupby('disease').size()"),
        ("md", "The registry holds every study with its source. Each number carries where it was read "
               "(table, figure, paragraph); `bayes-il2 data show STUDY_ID` prints them."),
        ("md", "**Effect sizes.** The pre-post correlation `r` is not reported by the trials; 0.5 is an explicit "
               "assumption (notebook 05 gives it a prior instead, and the `treg_sensitivity` analysis varies it). "
               "`excluded` lists every row left out, with the reason."),
        ("code", "table, excluded = effects.treg_expansion_effects(registry, measure='ROMC', r=0.5)\n"
                 "print(len(table), 'arms used;', len(excluded), 'rows excluded')\n"
                 "table[['study_id', 'disease', 'design', 'n', 'yi', 'vi']]"),
        ("md", "**Why this model.** The arms differ in disease, dose and assay, so their true changes differ: "
               "a random-effects (normal-normal hierarchical) model pools them around a mean `mu` with a "
               "between-arm SD `tau`. With few arms `tau` is barely identified by the data, so its prior matters: "
               "half-normal(0.5) on the log scale keeps it below about 1 (a 2.7-fold spread) with 95% "
               "probability (Röver et al. 2021)."),
        ("code", "fit = bayes_il2.meta_analysis(table, model='nnhm', tau_prior='half_normal(0.5)',\n"
                 "                              mu_prior='normal(0, 2)', target_accept=0.99)  # 4 x 1000 draws\n"
                 "fit.summary(['mu', 'tau', 'theta_new'], scale='natural')"),
        ("md", "**Reading the table.** `mu` is the pooled ratio of Treg levels after/before on the natural "
               "scale (2 means the Tregs doubled); `median` and `eti_low`/`eti_high` give the 95% credible "
               "interval. `theta_new` is the ratio expected in a new, similar trial: wider, because it adds "
               "the heterogeneity. `tau` stays on the log scale. `r_hat` near 1 and large `ess_bulk` mean the "
               "chains agree and the draws suffice."),
        ("code", "report = diagnose(fit)\nprint(report.verdict)\nreport.table()[['name', 'status', 'message', 'hint']]"),
        ("md", CHECKS_MD),
        ("code", "fig = plots.forest_plot(table, fit=fit, title='Treg expansion under LD-IL-2 (ratio of means)')"),
        ("md", "**Reading the forest plot.** Black squares: each arm's observed ratio with its 95% CI (square "
               "size by weight: the arm's share of the random-effects weights 1/(v + tau^2)). Blue circles: the "
               "arm's shrunken posterior estimate. The diamond is the pooled mean; the red bar the 95% "
               "prediction interval for a new trial. The axis is logarithmic; right of 1 means higher Tregs."),
    ],
    "02_adverse_events.ipynb": [
        ("md", "# Adverse events under low-dose IL-2\n\n**Questions.** (1) What proportion of patients treated "
               "with LD-IL-2 has any adverse event? (2) Are infections more common under LD-IL-2 than under "
               "placebo?\n\n**Why these models.** Event counts are small, often zero: exact binomial likelihoods "
               "avoid the continuity corrections and normal approximations of log odds ratios (Stijnen et al. "
               "2010). Rates use a logit random-effects model; the contrast a binomial-normal model with one "
               "baseline per trial."),
        ("code", SETUP + "from bayes_il2 import effects, diagnose, plots\n" + FAST),
        ("code", "registry = bayes_il2.load_registry()\n"
                 "rates, _ = effects.event_rate_effects(registry, 'any_ae')\n"
                 "rates[['study_id', 'disease', 'events', 'n']]"),
        ("code", "fit_rates = bayes_il2.meta_analysis(rates, model='single_arm', **SAMPLER)\n"
                 "fit_rates.summary(['p_pooled', 'p_new'])"),
        ("md", "**Reading the table.** `p_pooled` is the proportion with any adverse event in a typical study; "
               "`p_new` the proportion to expect in a new study (wider: it carries the between-study spread)."),
        ("code", "print(diagnose(fit_rates, influence=False).verdict)"),
        ("md", CHECKS_MD),
        ("code", "contrast, _ = effects.event_contrast_table(registry, 'infection')\n"
                 "contrast[['study_id', 'events_t', 'n_t', 'events_c', 'n_c']]"),
        ("md", "Without priors given, `meta_analysis` chooses weakly informative ones for the log odds ratio "
               "(tau ~ half-normal(0.5), mu ~ normal(0, 4^2)) and records why:"),
        ("code", "fit_or = bayes_il2.meta_analysis(contrast, model='binomial_normal', **SAMPLER)\n"
                 "print(fit_or.settings['default_priors'])\nfit_or.summary(['mu', 'tau'], scale='natural')"),
        ("md", "**Reading the table.** `mu` on the natural scale is the pooled odds ratio of an infection under "
               "LD-IL-2 versus placebo: **below 1 favours LD-IL-2** (fewer infections), above 1 favours control. "
               "With only a few small trials the interval is wide: the data cannot rule out either direction."),
        ("code", "report = diagnose(fit_or, influence=False)\nprint(report.verdict)"),
        ("md", CHECKS_MD),
        ("code", "fig = plots.forest_plot(contrast.assign(outcome='infection'), fit=fit_or, title='Infections: LD-IL-2 vs placebo')"),
        ("md", "The axis says which side favours LD-IL-2: for a harm such as infection, odds ratios left of 1."),
    ],
    "03_pss_reanalysis.ipynb": [
        ("md", "# Bayesian reanalysis of the primary Sjögren syndrome trial\n\n**Question.** He et al. 2022 "
               "(JAMA Netw Open) report an ESSDAI response in 20/30 patients under LD-IL-2 and 8/30 under placebo "
               "at week 24. How probable is a real benefit, for readers who start from different beliefs?\n\n"
               "**Why this analysis.** One trial's p-value does not say how probable a benefit is. A Bayesian "
               "reanalysis combines the trial's binomial likelihood with a *community of priors*: skeptical "
               "(centred on no effect), neutral and enthusiastic, plus a meta-analytic-predictive (MAP) prior "
               "from the other LD-IL-2 trials. The posteriors here are computed exactly (no MCMC)."),
        ("code", "import matplotlib\nmatplotlib.use('Agg')\nfrom bayes_il2 import reanalysis"),
        ("code", "essdai = reanalysis.BinaryEndpoint(events_t=20, n_t=30, events_c=8, n_c=30,\n"
                 "                                   name='ESSDAI response, week 24')\n"
                 "table = reanalysis.reanalyze(essdai, ['skeptical', 'neutral', 'enthusiastic'],\n"
                 "                              clinically_important_or=2.0)\ntable"),
        ("md", "**Reading the table.** One row per prior: the posterior odds ratio (median and 95% interval), "
               "`p_benefit` = P(OR > 1), and the probability that the odds ratio exceeds the clinically important "
               "value 2. If even the skeptic's posterior gives a high `p_benefit`, the trial is convincing on its "
               "own; if only the enthusiast's does, it is not."),
        ("md", "The full reanalysis of every endpoint the registry holds for the trial, with the "
               "meta-analytic-predictive prior from the other LD-IL-2 RCTs:"),
        ("code", "import bayes_il2\nresult = reanalysis.reanalyze_study(bayes_il2.load_registry(), 'He2022_pSS', None,\n"
                 "                                    priors=['skeptical', 'neutral', 'enthusiastic'])\n"
                 "for name, t in result.tables().items():\n    print(name)\n    display(t)"),
        ("md", "**Reading these tables.** One table per endpoint the registry holds for the trial (responders "
               "as odds ratios, continuous scores as differences, each from what the paper printed); rows are "
               "the priors. Where the priors disagree about the conclusion, the trial alone does not settle it."),
        ("md", "There are no MCMC diagnostics here: every posterior is computed by numerical integration, so "
               "there is no sampling error to check. What can go wrong is the prior: read the rows side by side."),
    ],
    "04_your_own_data.ipynb": [
        ("md", "# Your own meta-analysis from a CSV\n\n**Question.** The classic eight-schools data (Rubin "
               "1981): the effect of coaching on test scores in eight schools, each with its standard error. "
               "What is the average effect, and how much do schools differ?\n\n"
               "A CSV with `study_id`, `yi` and `vi` (or `se`), optionally `label`, `group` and covariates, is "
               "all you need. The same works from the command line: `bayes-il2 fit effects.csv --measure MD`."),
        ("code", SETUP + "import tempfile, pathlib\nfrom bayes_il2 import plots, exact, diagnose\n"
                 "from bayes_il2.userdata import read_effects_csv\n" + FAST),
        ("code", "csv = pathlib.Path(tempfile.mkdtemp()) / 'eight_schools.csv'\n"
                 "csv.write_text('study_id,yi,se\\nA,28,15\\nB,8,10\\nC,-3,16\\nD,7,11\\nE,-1,9\\nF,1,11\\nG,18,10\\nH,12,18\\n')\n"
                 "table = read_effects_csv(csv).assign(measure='MD')\ntable"),
        ("md", "**Why these priors.** The effects are in test points, not on a log scale, so a prior such as "
               "half-normal(0.5) for tau would force the schools to agree. Left open, `meta_analysis` scales "
               "weakly informative priors to the data: s = the largest of the median standard error, the spread "
               "of the estimates and the fixed-effect mean; tau ~ half-normal(s/2), mu ~ normal(0, (s/2)^2). "
               "On these data that reproduces the reference analysis (mu ~ N(0, 5^2), tau ~ half-Cauchy(5)) "
               "within 10%."),
        ("code", "fit = bayes_il2.meta_analysis(table, model='nnhm', **SAMPLER)\n"
                 "print(fit.settings['default_priors'])\nfit.summary(['mu', 'tau'])"),
        ("md", "**Check the MCMC answer against the exact engine.** For normal models the posterior can be "
               "computed by numerical integration (no sampling error). With the same priors, the MCMC means "
               "should differ from the exact ones by no more than a few Monte Carlo standard errors (MCSE); "
               "with 2 x 500 draws a difference of a few tenths of a point in mu is expected."),
        ("code", "post = exact.nnhm(table['yi'], table['vi'], fit.priors['tau'], fit.priors['mu'], labels=table['study_id'])\n"
                 "mcmc = fit.summary(['mu', 'tau']).set_index('parameter')\n"
                 "for name, marginal in (('mu', post.mu), ('tau', post.tau)):\n"
                 "    gap = (mcmc.loc[name, 'mean'] - marginal.mean) / mcmc.loc[name, 'mcse_mean']\n"
                 "    print(f'{name}: MCMC {mcmc.loc[name, \"mean\"]:.2f}, exact {marginal.mean:.2f}, difference {gap:+.1f} MCSE')\n"
                 "post.summary().head(6)"),
        ("md", "A difference within about 3 MCSE is sampling noise; a larger one means the sampler missed part "
               "of the posterior (look at the divergences) or the two analyses use different priors. The exact "
               "summary labels each school by its id."),
        ("code", "report = diagnose(fit)\nprint(report.verdict)\nreport.table()[['name', 'status', 'message', 'hint']]"),
        ("md", CHECKS_MD + " Here a WARN on `prior_sensitivity` says that with eight imprecise schools "
               "the pooled mean depends noticeably on its prior: a property of the data, not a sampling failure. "
               "Report it, and show the answer under a second prior (e.g. `mu_prior='normal(0, 20)'`)."
               " Eight schools is the textbook case of a funnel-shaped posterior: with a vague "
               "prior and a *centered* model it produces divergences; the package's non-centered default and a "
               "target acceptance of 0.95 avoid them here."),
        ("code", "fig = plots.forest_plot(table, fit=fit, title='Eight schools: coaching effect (points)')"),
        ("md", "**Reading the forest plot.** The posterior estimates (blue) are pulled towards the pooled mean: "
               "with standard errors of 9 to 18 points, no school's own estimate is precise enough to stand "
               "alone. The prediction interval (red) is what a ninth school might see."),
    ],
    "05_extending_a_model.ipynb": [
        ("md", "# Extending a model in PyMC\n\n**Question.** Is the pooled Treg expansion robust to (a) an "
               "outlying arm and (b) the unknown pre-post correlation r?\n\n"
               "Every fit keeps its PyMC model (`fit.model`), and the builders return an editable model. Here "
               "we (a) replace the normal random effects by Student-t random effects, written directly in PyMC "
               "with the package's priors and sampler, and (b) give r a prior instead of fixing it."),
        ("code", "import numpy as np, pymc as pm\nimport bayes_il2\nfrom bayes_il2 import effects, diagnose\n"
                 "from bayes_il2.inference import sample\nfrom bayes_il2.priors import HalfNormal, Normal"),
        ("code", "registry = bayes_il2.load_registry()\ntable, _ = effects.treg_expansion_effects(registry, r=0.5)\n"
                 "coords = {'study_id': table['study_id'].tolist()}\n"
                 "with pm.Model(coords=coords) as robust:\n"
                 "    mu = Normal(0, 2).to_pymc('mu')\n    tau = HalfNormal(0.5).to_pymc('tau')\n"
                 "    z = pm.StudentT('z', nu=4, mu=0, sigma=1, dims='study_id')\n"
                 "    theta = pm.Deterministic('theta', mu + tau * z, dims='study_id')\n"
                 "    pm.Normal('y', theta, sigma=np.sqrt(table['vi'].to_numpy()), observed=table['yi'].to_numpy(), dims='study_id')\n"
                 "idata = sample(robust, draws=500, tune=500, chains=2, seed=1, target_accept=0.95)\n"
                 "print('robust mu (log scale):', round(float(idata['posterior']['mu'].mean()), 3))"),
        ("md", "**(a) Normal random effects for comparison.** If the two pooled means are close, no single arm "
               "drives the result."),
        ("code", "normal = bayes_il2.meta_analysis(table, model='nnhm', tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2),\n"
                 "                                 draws=500, tune=500, chains=2, seed=1, target_accept=0.95)\n"
                 "normal.summary(['mu', 'tau'])"),
        ("md", "**(b) The pre-post correlation as a parameter (`r_prior`).** The `treg` family works from the "
               "arms' pre and post means and SDs, so the variance of each change, S - 2rC, depends on r. "
               "`r_prior=(a, b)` puts a Beta(a, b) prior on r; the data barely inform r, so its uncertainty "
               "flows into mu instead of being hidden by a fixed guess. Beta(5, 5) centres r at 0.5 with most "
               "mass between 0.2 and 0.8."),
        ("code", "arms = table[['study_id', 'arm_id', 'treatment', 'n', 'mean_pre', 'sd_pre', 'mean_post', 'sd_post', 'disease']]\n"
                 "with_r = bayes_il2.meta_analysis(arms, model='treg', r_prior=(5, 5), tau_prior=HalfNormal(0.5),\n"
                 "                                 mu_prior=Normal(0, 2), draws=1000, tune=1500, chains=4, seed=1,\n"
                 "                                 target_accept=0.99)\n"
                 "with_r.summary(['mu', 'tau', 'r'])"),
        ("md", "**Reading it.** Compare mu with the fixed-r fit above: a wider interval is the honest price of "
               "not knowing r. The posterior of r stays close to its Beta(5, 5) prior (mean 0.5): the data "
               "carry almost no information about it, which is why it must be stated as an assumption."),
        ("code", "print(diagnose(with_r, influence=False).verdict)"),
        ("md", CHECKS_MD),
    ],
    "06_effect_sizes.ipynb": [
        ("md", "# Effect sizes from what papers report\n\n**Question.** Trials rarely print exactly what a "
               "meta-analysis needs. How do we turn typical reports into an effect `yi` and its variance `vi`?\n\n"
               "`bayes_il2.effects` does it with metafor's names (`escalc`), and every function is checked "
               "against a published number (`docs/effects_validation.md`)."),
        ("code", "import numpy as np\nfrom bayes_il2 import effects"),
        ("md", "**Two-group counts** with metafor's names (`ai, bi, ci, di`: events and non-events per arm); "
               "the continuity correction is an explicit choice (here only for the zero-cell trial)."),
        ("code", "print(effects.escalc('RR', ai=4, bi=119, ci=11, di=128))   # metafor's dat.bcg, trial 1\n"
                 "lor = effects.log_odds_ratio(ai=[5, 0], n1i=[100, 20], ci=[10, 3], n2i=[100, 20],\n"
                 "                              correction='only0')\n"
                 "print(np.round(lor.yi, 4), np.round(lor.vi, 4), lor.corrected)"),
        ("md", "**Standardized mean differences** use metafor's default variance (`vtype='LS'`), so the numbers "
               "match metafor's printout; `vtype='hedges'` gives Borenstein et al.'s exact-J form (smaller by "
               "about 20% when N < 10)."),
        ("code", "print(effects.escalc('SMD', m1i=103, sd1i=5.5, n1i=50, m2i=100, sd2i=4.5, n2i=50))\n"
                 "print(effects.escalc('SMD', m1i=103, sd1i=5.5, n1i=50, m2i=100, sd2i=4.5, n2i=50, vtype='hedges'))"),
        ("md", "**A median (IQR) instead of a mean (SD):** test for skewness first (Shi et al. 2023). A "
               "right-skewed count passes as log-normal, and the log-normal conversion (Shi et al. 2020b) "
               "then replaces the normal-theory one."),
        ("code", "five = dict(minimum=2.0, q1=4.0, q3=14.0, maximum=20.0)\n"
                 "print(effects.skewness_test(6.0, 20, **five))\n"
                 "print(effects.skewness_test(6.0, 20, **five, dist='lognormal'))\n"
                 "effects.mean_sd_from_five_numbers(2.0, 4.0, 6.0, 14.0, 20.0, 20, dist='lognormal')"),
        ("md", "**An SD from a 95% CI** of a mean (t-based below n = 60), and **two subgroups combined** into one "
               "arm (Cochrane Handbook)."),
        ("code", "print(effects.sd_from_ci(30.0, 34.2, 25))\n"
                 "effects.combine_groups(10, 11.8, 2.4, 20, 15.3, 3.2)"),
        ("md", "**Pre-post data within one arm:** the pre-post correlation is rarely reported, so compute the "
               "measure over several values and carry the spread into the analysis (notebook 05)."),
        ("code", "effects.over_r('SMCR', [0.2, 0.5, 0.8], m_pre=5.1, sd_pre=1.9, m_post=9.8, sd_post=3.2, ni=29)"),
        ("md", "No model is fitted here, so there are no checks to pass; every function raises an error naming "
               "the row when an input is impossible (a negative SD, more events than patients)."),
    ],
    "07_reanalysis_of_a_published_meta_analysis.ipynb": [
        ("md", "# A full reanalysis of your own meta-analysis: from a published table to the report\n\n"
               "**Question.** Does BCG vaccination prevent tuberculosis? Colditz et al. (JAMA 1994) pooled 13 "
               "trials; their 2x2 tables are printed in the paper (and shipped as metafor's `dat.bcg`). We redo "
               "the analysis as a user would with their own published table: type the table, compute the "
               "effects, fit, check, compare with an independent computation, and write the report.\n\n"
               "The same steps work for any table of counts or of means and SDs."),
        ("code", SETUP + "import io, pathlib, subprocess, sys, tempfile\nimport pandas as pd\n"
                 "from bayes_il2 import escalc, exact, diagnose, plots\n" + FAST),
        ("md", "**1. The published table**, typed in as printed: cases (`tpos`) and non-cases (`tneg`) with "
               "BCG, and without (`cpos`, `cneg`)."),
        ("code", "published = pd.read_csv(io.StringIO('''trial,author,year,tpos,tneg,cpos,cneg\n"
                 "1,Aronson,1948,4,119,11,128\n2,Ferguson & Simes,1949,6,300,29,274\n3,Rosenthal et al,1960,3,228,11,209\n"
                 "4,Hart & Sutherland,1977,62,13536,248,12619\n5,Frimodt-Moller et al,1973,33,5036,47,5761\n"
                 "6,Stein & Aronson,1953,180,1361,372,1079\n7,Vandiviere et al,1973,8,2537,10,619\n"
                 "8,TPT Madras,1980,505,87886,499,87892\n9,Coetzee & Berjak,1968,29,7470,45,7232\n"
                 "10,Rosenthal et al,1961,17,1699,65,1600\n11,Comstock et al,1974,186,50448,141,27197\n"
                 "12,Comstock & Webster,1969,5,2493,3,2338\n13,Comstock et al,1976,27,16886,29,17825\n'''))\n"
                 "published"),
        ("md", "**2. Effect sizes** with metafor's names: the log risk ratio of each trial and its variance. "
               "Check one number against the source before going on: trial 1 gives log RR -0.889 "
               "(metafor prints the same)."),
        ("code", "es = escalc('RR', ai=published.tpos, bi=published.tneg, ci=published.cpos, di=published.cneg)\n"
                 "table = pd.DataFrame({'study_id': published.author + ' ' + published.year.astype(str),\n"
                 "                      'yi': es.yi, 'vi': es.vi, 'measure': 'RR'})\n"
                 "table.head(3)"),
        ("md", "**3. The model.** Thirteen trials in very different places and times: a random-effects model. "
               "Without priors given, `meta_analysis` takes the weakly informative choice for a log risk ratio "
               "(tau ~ half-normal(0.5), mu ~ normal(0, 4^2); Röver 2020, Röver et al. 2021) and says so."),
        ("code", "fit = bayes_il2.meta_analysis(table, **SAMPLER)\nprint(fit.settings['default_priors'])\n"
                 "fit.summary(['mu', 'tau', 'theta_new'], scale='natural')"),
        ("md", "**Reading the table.** `mu` on the natural scale is the pooled risk ratio of tuberculosis with "
               "versus without BCG: below 1 means fewer cases with the vaccine. `theta_new` is the risk ratio a new "
               "trial might find; its interval is wide because the trials disagree strongly (tau around 0.5 on "
               "the log scale)."),
        ("md", "**4. Check the fit.** First the diagnostics, then an independent computation: the exact engine "
               "with the same priors."),
        ("code", "report = diagnose(fit)\nprint(report.verdict)\nreport.table()[['name', 'status', 'message']]"),
        ("md", "**A FAIL, and what to do about it.** R-hat above 1.01 and a small ESS for mu: the two chains have "
               "not mixed, so these draws must not be reported. The default parameterization (non-centered) suits "
               "imprecise studies; here several trials enrolled tens of thousands of people, their effects are "
               "precise, and the centered parameterization samples far better (Papaspiliopoulos, Roberts & "
               "Sköld 2007). The check's hint says so; refit centered:"),
        ("code", "fit = bayes_il2.meta_analysis(table, parameterization='centered', **SAMPLER)\n"
                 "report = diagnose(fit)\nprint(report.verdict)\nfit.summary(['mu', 'tau', 'theta_new'], scale='natural')"),
        ("md", CHECKS_MD),
        ("code", "post = exact.nnhm(table.yi, table.vi, fit.priors['tau'], fit.priors['mu'], labels=table.study_id)\n"
                 "print('exact: mu', round(post.mu.mean, 3), 'tau', round(post.tau.mean, 3))\n"
                 "fit.summary(['mu', 'tau'])[['parameter', 'mean', 'mcse_mean']]"),
        ("md", "The MCMC means should agree with the exact ones within a few MCSE. For the published analysis "
               "compare with a classical random-effects estimate too (metafor's `rma` on the same yi and vi): the "
               "Bayesian posterior median should be close to it, with a wider interval because it carries the "
               "uncertainty about tau."),
        ("code", "fig = plots.forest_plot(table, fit=fit, title='BCG and tuberculosis: risk ratio')"),
        ("md", "**5. The report.** Save the table as a CSV and run the command line on it: it writes the results "
               "folder (tables, figures, posterior) and an HTML page titled from the file, and prints both paths "
               "and the priors it chose."),
        ("code", "work = pathlib.Path(tempfile.mkdtemp())\ncsv = work / 'bcg.csv'\n"
                 "table[['study_id', 'yi', 'vi']].to_csv(csv, index=False)\n"
                 "run = subprocess.run([sys.executable, '-m', 'bayes_il2.cli', 'fit', str(csv), '--measure', 'RR',\n"
                 "                      '--out', str(work / 'results' / 'bcg'), '--draws', '500', '--tune', '500',\n"
                 "                      '--chains', '2', '--target-accept', '0.95', '--parameterization', 'centered',\n"
                 "                      '--quiet'],\n"
                 "                     capture_output=True, text=True)\n"
                 "print(run.stdout)\nprint(run.stderr)\nsorted(p.name for p in (work / 'results' / 'bcg').iterdir())"),
        ("md", "Open `results/bcg.html` in a browser: the overview line gives the pooled risk ratio with its "
               "credible interval and a diagnostics badge; the caveat box says what the result rests on; the "
               "figures link to the PNG files in `results/bcg/`."),
    ],
}


def build(name: str, execute: bool = True):
    """The notebook ``name`` from its cell list, executed (outputs stored) unless ``execute`` is False."""
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                             for kind, src in NOTEBOOKS[name]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if execute:
        import tempfile

        from nbclient import NotebookClient

        with tempfile.TemporaryDirectory() as work:
            NotebookClient(nb, timeout=900, kernel_name="python3",
                           resources={"metadata": {"path": work}}).execute()
    return nb


def main(argv: list[str] | None = None) -> None:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    execute = "--no-execute" not in args
    names = [a for a in args if not a.startswith("--")] or list(NOTEBOOKS)
    HERE.mkdir(exist_ok=True)
    for name in names:
        nbformat.write(build(name, execute), HERE / name)
        print("wrote", HERE / name, "(executed)" if execute else "")


if __name__ == "__main__":
    main()
