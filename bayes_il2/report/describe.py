"""The model and its priors in words and in formula (HTML fragments) for each model family.

Formulas are written with Unicode and HTML sub/superscripts so the page needs no external script.
The equations follow /work/shared/design.md and the module docstrings of ``bayes_il2.modeling``.
"""
from __future__ import annotations

from html import escape
from typing import Any

MEASURE_WORDS = {
    "OR": "log odds ratio", "RR": "log risk ratio", "HR": "log hazard ratio", "RD": "risk difference",
    "PLO": "logit of a proportion", "PR": "proportion", "PAS": "arcsine-transformed proportion",
    "IRLN": "log rate of first events per patient-year",
    "MD": "mean difference", "SMD": "standardized mean difference (Hedges' g)",
    "ROM": "log ratio of means", "MC": "mean change",
    "SMCR": "standardized mean change (raw-score standardization)",
    "SMCC": "standardized mean change (change-score standardization)",
    "ROMC": "log ratio of means, post- over pre-treatment",
}

_NNHM_WORDS = ("Each study i reports an effect y<sub>i</sub> with known sampling variance v<sub>i</sub>. "
               "The true study effects θ<sub>i</sub> differ between studies around a pooled mean μ with "
               "between-study standard deviation τ (normal-normal hierarchical model, random effects). "
               "θ<sub>new</sub> is the effect expected in a new, similar study.")

FAMILIES: dict[str, tuple[str, list[str]]] = {
    "nnhm": (_NNHM_WORDS, [
        "y<sub>i</sub> | θ<sub>i</sub> ~ N(θ<sub>i</sub>, v<sub>i</sub>),  i = 1, …, k",
        "θ<sub>i</sub> | μ, τ ~ N(μ, τ<sup>2</sup>)",
        "θ<sub>new</sub> ~ N(μ, τ<sup>2</sup>)",
        "I<sup>2</sup> = τ<sup>2</sup> / (τ<sup>2</sup> + s<sup>2</sup>),  s<sup>2</sup>: typical within-study variance",
    ]),
    "three_level": (
        "Studies are nested in diseases. Each study's true effect varies around its disease's mean "
        "(standard deviation τ<sub>within</sub>), and the disease means vary around an overall mean μ "
        "(standard deviation τ<sub>between</sub>). The model gives a pooled effect per disease, the "
        "overall effect, and predictions for a new study in a known disease and in a new disease.", [
            "y<sub>i</sub> | θ<sub>i</sub> ~ N(θ<sub>i</sub>, v<sub>i</sub>)",
            "θ<sub>i</sub> | μ<sub>d(i)</sub>, τ<sub>within</sub> ~ N(μ<sub>d(i)</sub>, τ<sub>within</sub><sup>2</sup>)",
            "μ<sub>d</sub> | μ, τ<sub>between</sub> ~ N(μ, τ<sub>between</sub><sup>2</sup>)",
            "θ<sub>new, d</sub> ~ N(μ<sub>d</sub>, τ<sub>within</sub><sup>2</sup>);  "
            "θ<sub>new</sub> ~ N(μ<sub>new</sub>, τ<sub>within</sub><sup>2</sup>), μ<sub>new</sub> ~ N(μ, τ<sub>between</sub><sup>2</sup>)",
        ]),
    "exnex": (
        "EXNEX (Neuenschwander et al. 2016): each disease's mean is exchangeable with the others (drawn "
        "from the three-level model's N(μ, τ<sub>between</sub><sup>2</sup>)) with prior probability "
        "p<sub>exch</sub>, or non-exchangeable with its own weakly informative prior. An outlying disease "
        "then does not pull the others. p<sub>exch,post</sub> is each disease's posterior exchangeability "
        "probability; the table exnex_by_disease sets the estimates beside the three-level model's.", [
            "y<sub>i</sub> ~ N(θ<sub>i</sub>, v<sub>i</sub>),  θ<sub>i</sub> ~ N(μ<sub>d(i)</sub>, τ<sub>within</sub><sup>2</sup>)",
            "μ<sub>d</sub> ~ p<sub>exch</sub> N(μ, τ<sub>between</sub><sup>2</sup>) + (1 − p<sub>exch</sub>) "
            "N(m<sub>nex</sub>, s<sub>nex</sub><sup>2</sup>)",
        ]),
    "exnex_rate": (
        "EXNEX for event rates (Neuenschwander et al. 2016): events in each LD-IL-2 arm are binomial on "
        "the logit scale; each disease's mean logit rate is exchangeable with the others with prior "
        "probability p<sub>exch</sub>, or non-exchangeable with its own weakly informative prior. "
        "p<sub>exch,post</sub> is each disease's posterior exchangeability probability.", [
            "r<sub>i</sub> ~ Bin(n<sub>i</sub>, p<sub>i</sub>),  logit p<sub>i</sub> = θ<sub>i</sub> ~ "
            "N(μ<sub>d(i)</sub>, τ<sub>within</sub><sup>2</sup>)",
            "μ<sub>d</sub> ~ p<sub>exch</sub> N(μ, τ<sub>between</sub><sup>2</sup>) + (1 − p<sub>exch</sub>) "
            "N(m<sub>nex</sub>, s<sub>nex</sub><sup>2</sup>)",
        ]),
    "design_bias": (
        "Bias-corrected meta-analysis (Verde 2021): estimates from designs weaker than an RCT carry a "
        "bias b<sub>g</sub> shared by their design g, with extra study-to-study spread γ; RCT contrasts "
        "are unbiased. (With the power-prior option the weaker designs' likelihood is down-weighted "
        "instead.)", [
            "y<sub>i</sub> ~ N(θ<sub>i</sub>, v<sub>i</sub>)",
            "θ<sub>i</sub> ~ N(μ, τ<sup>2</sup>) (RCT);  θ<sub>i</sub> ~ N(μ + b<sub>g(i)</sub>, τ<sup>2</sup> + γ<sup>2</sup>) (design g)",
            "b<sub>g</sub> ~ N(0, bias_sd<sup>2</sup>),  γ ~ HalfNormal(bias_spread)",
        ]),
    "design_bias_rate": (
        "Bias-corrected event rates (in the spirit of Verde 2021): the single-arm rate model, in which arms "
        "of studies weaker than an RCT (single-arm, dose-finding, cohort) carry a bias b<sub>g</sub> of "
        "their design g on the logit (or, with the exposure model, log-rate) scale and extra study-to-study "
        "spread γ; IL-2 arms of RCTs are unbiased, so μ describes an arm of an RCT. Arms of one trial share "
        "their study's bias. Without an RCT arm the bias is separated from μ by its prior alone.", [
            "r<sub>a</sub> ~ Bin(n<sub>a</sub>, p<sub>a</sub>),  logit p<sub>a</sub> = θ<sub>a</sub>",
            "θ<sub>a</sub> = μ + study and arm deviations (SD τ) (RCT arm);  θ<sub>a</sub> = μ + "
            "b<sub>g(s)</sub> + γ ζ<sub>s</sub> + deviations (study s of design g)",
            "b<sub>g</sub> ~ N(0, bias_sd<sup>2</sup>),  γ ~ HalfNormal(bias_spread),  ζ<sub>s</sub> ~ N(0, 1)",
        ]),
    "binomial_normal": (
        "Event counts in the LD-IL-2 (t) and control (c) arms of each study are modelled with exact "
        "binomial likelihoods (no continuity correction). Each study has its own baseline log-odds "
        "α<sub>i</sub>; its log odds ratio θ<sub>i</sub> varies around the pooled log odds ratio μ with "
        "between-study standard deviation τ (Smith, Spiegelhalter &amp; Thomas 1995).", [
            "r<sub>c,i</sub> ~ Bin(n<sub>c,i</sub>, p<sub>c,i</sub>),  r<sub>t,i</sub> ~ Bin(n<sub>t,i</sub>, p<sub>t,i</sub>)",
            "logit p<sub>c,i</sub> = α<sub>i</sub>,  logit p<sub>t,i</sub> = α<sub>i</sub> + θ<sub>i</sub>",
            "θ<sub>i</sub> | μ, τ ~ N(μ, τ<sup>2</sup>),  θ<sub>new</sub> ~ N(μ, τ<sup>2</sup>)",
        ]),
    "single_arm": (
        "The proportion of patients with the event under LD-IL-2 is modelled per study with an exact "
        "binomial likelihood; the study-level log-odds vary around a pooled log-odds μ (with two levels, "
        "around disease means). p<sub>pooled</sub> = expit(μ) is the rate of a typical study, "
        "p<sub>new</sub> the rate expected in a new study (Stijnen, Hamza &amp; Özdemir 2010). Arms of one "
        "trial (dose groups) are nested in it: a study effect shared by its arms plus an arm effect, with "
        "intra-study correlation ρ, so they do not count as independent studies. With the exposure model "
        "(cloglog) θ<sub>i</sub> is the log rate of first events per patient-year and the window t<sub>i</sub> "
        "enters as an offset.", [
            "r<sub>i</sub> ~ Bin(n<sub>i</sub>, p<sub>i</sub>),  logit p<sub>i</sub> = θ<sub>i</sub>   "
            "(exposure: p<sub>i</sub> = 1 − exp(−e<sup>θ<sub>i</sub></sup> t<sub>i</sub>))",
            "arms a of study s: θ<sub>a</sub> = μ + u<sub>s</sub> + e<sub>a</sub>, u<sub>s</sub> ~ N(0, ρτ<sup>2</sup>), "
            "e<sub>a</sub> ~ N(0, (1 − ρ)τ<sup>2</sup>)",
            "θ<sub>i</sub> | μ, τ ~ N(μ, τ<sup>2</sup>)   (two levels: θ<sub>i</sub> ~ N(μ<sub>d(i)</sub>, "
            "τ<sub>within</sub><sup>2</sup>), μ<sub>d</sub> ~ N(μ, τ<sub>between</sub><sup>2</sup>))",
            "p<sub>pooled</sub> = expit(μ),  p<sub>new</sub> = expit(θ<sub>new</sub>)",
        ]),
    "treg": (
        "Per LD-IL-2 arm the pre-post change in regulatory T cells and its variance "
        "v<sub>i</sub>(r) = S<sub>i</sub> − 2 r C<sub>i</sub>, which depends on the unreported pre-post "
        "correlation r (fixed as an explicit assumption, or given a prior); the changes are pooled with the "
        "normal-normal hierarchical model.", [
            "y<sub>i</sub> | θ<sub>i</sub> ~ N(θ<sub>i</sub>, S<sub>i</sub> − 2 r C<sub>i</sub>)",
            "θ<sub>i</sub> | μ, τ ~ N(μ, τ<sup>2</sup>),  θ<sub>new</sub> ~ N(μ, τ<sup>2</sup>)",
        ]),
    "reanalysis": (
        "Bayesian reanalysis of a single trial: the trial's own data (binomial likelihood for responders "
        "per arm, normal likelihood for outcomes reported as a difference with a 95% CI) combined with a "
        "community of priors on the treatment effect: skeptical (centred on no effect), neutral, "
        "enthusiastic, and a meta-analytic-predictive (MAP) prior from the other LD-IL-2 trials, "
        "robustified as a mixture with a vague component.", [
            "posterior(δ | trial) ∝ likelihood(trial | δ) × prior(δ)",
            "P(benefit) = P(δ &gt; 0 | trial, prior);  P(δ &gt; clinically important effect | trial, prior)",
        ]),
}

PARAMETER_WORDS = {
    "mu": "μ, pooled mean (model scale)", "tau": "τ, between-study SD", "tau_within":
    "τ<sub>within</sub>, SD of studies within a disease", "tau_between": "τ<sub>between</sub>, SD of disease means",
    "beta": "β, meta-regression coefficients", "alpha": "α<sub>i</sub>, study baseline log-odds",
    "alpha_mu": "mean of the baselines", "alpha_sd": "SD of the baselines", "r": "r, pre-post correlation",
    "rho": "ρ, correlation of the arms of one trial (share of τ² between studies)",
}


def model_words(family: str, measure: str | None, covariates: list[str] | None = None) -> str:
    """The model in words (an HTML paragraph)."""
    words, _ = FAMILIES.get(family, (f"Model family {escape(family)}.", []))
    parts = [f"<p>{words}</p>"]
    if measure:
        parts.append(f"<p>Effect measure: <b>{escape(measure)}</b> "
                     f"({escape(MEASURE_WORDS.get(measure, measure))}) on the model scale; tables and "
                     "figures report the natural scale (ratios exponentiated, logits back-transformed).</p>")
    if covariates:
        parts.append("<p>Meta-regression: the mean of θ<sub>i</sub> is μ + x<sub>i</sub><sup>T</sup>β with "
                     f"covariates {escape(', '.join(covariates))} (standardized unless stated otherwise); "
                     "μ is then the mean at the covariate means.</p>")
    return "\n".join(parts)


def model_formula(family: str, covariates: list[str] | None = None) -> str:
    """The model's equations (an HTML block)."""
    _, lines = FAMILIES.get(family, ("", []))
    lines = list(lines)
    if covariates and family in ("nnhm", "three_level"):
        lines.append("θ<sub>i</sub> centred at μ + x<sub>i</sub><sup>T</sup>β")
    if not lines:
        return ""
    return '<div class="formula">' + "<br>".join(lines) + "</div>"


def _num(x: Any) -> str:
    return f"{float(x):.3g}"


def prior_object(value: Any):
    """A prior object from what the spec or ``fit.json`` holds (spec table, ``{"spec", "repr"}``,
    a string the prior parser reads); None when it is none of these (e.g. the Treg model's BetaR)."""
    from bayes_il2.errors import SpecError
    from bayes_il2.priors import Prior, parse_prior

    if isinstance(value, Prior):
        return value
    if isinstance(value, dict) and isinstance(value.get("spec"), dict):
        value = value["spec"]
    try:
        return parse_prior(value)
    except (SpecError, TypeError, ValueError):
        return None


def prior_words(symbol: str, prior: Any) -> tuple[str, str]:
    """(words, formula) of a prior on the parameter written ``symbol`` (HTML), e.g.
    ("half-normal with scale 0.5; 95% of its mass below 0.98", "τ ~ HN(0.5)")."""
    family = getattr(prior, "family", "")
    mass = ""
    try:
        lo, hi = prior.support
        if family in ("normal", "student_t"):
            a, b = prior.ppf([0.025, 0.975])
            mass = f"; 95% of its mass between {_num(a)} and {_num(b)}"
        elif lo == 0 and family not in ("uniform",):
            mass = f"; 95% of its mass below {_num(prior.ppf(0.95))}"
    except Exception:  # noqa: BLE001 - words without the mass when a quantile is unavailable
        mass = ""
    p = {k: getattr(prior, k) for k in ("scale", "mu", "sigma", "nu", "lower", "upper", "rate") if hasattr(prior, k)}
    source = getattr(prior, "source", "") or ""
    src = f" ({escape(source)})" if source else ""
    table = {
        "half_normal": (f"half-normal with scale {_num(p.get('scale', 0))}", f"{symbol} ~ HN({_num(p.get('scale', 0))})"),
        "half_cauchy": (f"half-Cauchy with scale {_num(p.get('scale', 0))}", f"{symbol} ~ HC({_num(p.get('scale', 0))})"),
        "half_student_t": (f"half-Student-t with {_num(p.get('nu', 0))} degrees of freedom and scale "
                           f"{_num(p.get('scale', 0))}", f"{symbol} ~ half-t<sub>{_num(p.get('nu', 0))}</sub>"
                           f"(0, {_num(p.get('scale', 0))})"),
        "uniform": (f"uniform between {_num(p.get('lower', 0))} and {_num(p.get('upper', 0))}",
                    f"{symbol} ~ U({_num(p.get('lower', 0))}, {_num(p.get('upper', 0))})"),
        "exponential": (f"exponential with rate {_num(p.get('rate', 0))}", f"{symbol} ~ Exp({_num(p.get('rate', 0))})"),
        "lognormal_tau2": (f"log-normal on the variance{src}",
                           f"log {symbol}<sup>2</sup> ~ N({_num(p.get('mu', 0))}, {_num(p.get('sigma', 0))}<sup>2</sup>)"),
        "log_t_tau2": (f"log-Student-t on the variance{src}",
                       f"log {symbol}<sup>2</sup> ~ t<sub>{_num(p.get('nu', 5))}</sub>({_num(p.get('mu', 0))}, "
                       f"{_num(p.get('sigma', 0))})"),
        "normal": (f"normal with mean {_num(p.get('mu', 0))} and SD {_num(p.get('sigma', 0))}",
                   f"{symbol} ~ N({_num(p.get('mu', 0))}, {_num(p.get('sigma', 0))}<sup>2</sup>)"),
        "student_t": (f"Student-t with {_num(p.get('nu', 0))} degrees of freedom, centre {_num(p.get('mu', 0))}, "
                      f"scale {_num(p.get('sigma', 0))}",
                      f"{symbol} ~ t<sub>{_num(p.get('nu', 0))}</sub>({_num(p.get('mu', 0))}, {_num(p.get('sigma', 0))})"),
        "flat": ("flat (improper, uniform on the whole line)", f"p({symbol}) ∝ 1"),
    }
    words, formula = table.get(family, (escape(repr(prior)), ""))
    return words + mass, formula


SYMBOLS = {"mu": "μ", "tau": "τ", "tau_within": "τ<sub>within</sub>", "tau_between": "τ<sub>between</sub>",
           "beta": "β", "r": "r", "alpha_mu": "m<sub>α</sub>", "alpha_sd": "s<sub>α</sub>"}


def priors_list(priors: dict[str, Any], note: str = "") -> str:
    """The priors as an HTML list: parameter, its meaning, the prior in words and as a formula.

    ``priors`` maps a parameter name to a spec table, the ``{"spec", "repr"}`` record of ``fit.json``,
    a prior object or a string; ``note`` (HTML) says how defaults were chosen, where they were.
    """
    if not priors:
        return "<p>Priors: the package defaults (see the model documentation).</p>" + note
    items = []
    for name, value in priors.items():
        meaning = PARAMETER_WORDS.get(name, escape(name))
        prior = prior_object(value)
        if prior is None:
            text = value.get("repr") if isinstance(value, dict) else value
            items.append(f"<li>{meaning}: <code>{escape(str(text))}</code></li>")
            continue
        words, formula = prior_words(SYMBOLS.get(name, escape(name)), prior)
        items.append(f"<li>{meaning}: {words}" + (f' <span class="formula-inline">{formula}</span>' if formula else "")
                     + "</li>")
    return "<ul class=\"priors\">" + "".join(items) + "</ul>" + note


from bayes_il2.plots.words import OUTCOME_WORDS, outcome_words  # noqa: E402,F401 - re-exported


#: The pooled parameter on the natural scale, in words, per measure.
NATURAL_WORDS = {
    "OR": "odds ratio", "RR": "risk ratio", "HR": "hazard ratio", "RD": "risk difference",
    "PLO": "proportion", "PR": "proportion", "MD": "mean difference", "SMD": "standardized mean difference",
    "ROM": "ratio of means", "ROMC": "ratio of means, post/pre", "MC": "mean change",
    "SMCR": "standardized mean change", "SMCC": "standardized mean change",
    "IRLN": "rate per patient-year", "GEN": "effect (scale of yi)",
}


DATA_KINDS = {
    "treg_expansion": "Change in regulatory T cells (Tregs) from before to after LD-IL-2, per LD-IL-2 arm "
                      "(pre-post contrast within arms)",
    "treg_partial": "Change in regulatory T cells under LD-IL-2 from every kind of report: complete pre/post "
                    "summaries, fold changes without spread, bounds, P values and published pooled estimates "
                    "(each row labelled with its kind of information)",
    "event_rate": "Proportion of LD-IL-2-treated patients with the event, per study arm",
    "event_contrast": "Patients with the event under LD-IL-2 against placebo or control, per randomized study",
    "reanalysis": "The endpoints of one randomized trial, per arm or as reported contrasts",
    "user_effects": "A user-supplied effect table",
}


def data_words(spec: dict[str, Any]) -> str:
    """What data the spec selects, in words: the kind, outcome, measure, assumptions and filters."""
    data = spec.get("data") or {}
    if not data:
        return ""
    kind = str(data.get("kind", ""))
    bits = [escape(DATA_KINDS.get(kind, kind))]
    outcomes = [data.get("outcome")] + list(data.get("outcomes") or [])
    outcomes = [str(o) for o in outcomes if o]
    if outcomes:
        bits.append("outcome" + ("s " if len(outcomes) > 1 else " ") + ", ".join(f"<code>{escape(o)}</code>"
                                                                                for o in outcomes))
    if data.get("study"):
        bits.append(f"study <code>{escape(str(data['study']))}</code>")
    if data.get("path"):
        bits.append(f"file <code>{escape(str(data['path']))}</code>")
    if kind == "event_rate":
        from bayes_il2.safety.statements import exposure_statement

        bits.append("exposure model: " + escape(exposure_statement((spec.get("model") or {}).get("exposure", "none"))))
    if kind in ("treg_expansion", "treg_partial"):
        from bayes_il2.specs import DataSpec

        r = data.get("prepost_r", DataSpec().prepost_r)
        bits.append(f"assumed pre-post correlation r = {escape(str(r))} (not reported "
                    "by the studies; varied in the sensitivity analyses where the spec asks)")
    if kind == "treg_partial":
        from bayes_il2.specs import DataSpec

        policy = data.get("qualitative", DataSpec().qualitative)
        bits.append("qualitative statements of a significant change " + (
            "left out" if policy == "exclude" else "read as a one-sided P &lt; 0.05 (an assumption)"))
    parts = ["<p>Selection: " + "; ".join(bits) + ".</p>"]
    filters = spec.get("filters") or {}
    rules = []
    for key, words in (("diseases", "diseases"), ("designs", "designs"), ("exclude_studies", "studies excluded")):
        if filters.get(key):
            rules.append(f"{words}: " + ", ".join(escape(str(v)) for v in filters[key]))
    if filters.get("dose_min_miu") is not None:
        rules.append(f"dose at least {escape(str(filters['dose_min_miu']))} MIU")
    if filters.get("dose_max_miu") is not None:
        rules.append(f"dose at most {escape(str(filters['dose_max_miu']))} MIU")
    if filters.get("include_duplicates"):
        rules.append("duplicate cohorts kept")
    if kind != "user_effects" and not filters.get("include_duplicates"):
        rules.append("studies marked pool = no in the registry (duplicate cohorts, secondary analyses) left out")
    parts.append("<p>Filters: " + ("; ".join(rules) if rules else "none") + ".</p>")
    sens = spec.get("sensitivity") or []
    if sens:
        parts.append("<p>Sensitivity analyses: " + "; ".join(
            f"{escape(str(s.get('name', '')))} ({escape(str(s.get('kind', '')))})" for s in sens) + ".</p>")
    return "".join(parts)
