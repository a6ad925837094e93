"""Priors for the effect of a two-arm trial: build, robustify, then update (as RBesT composes them).

All priors live on the model scale of the endpoint (log odds ratio, or mean difference) and are
:class:`~bayes_il2.reanalysis.mixture.NormalMixture` objects (or :class:`FlatPrior`).

Community of priors (Spiegelhalter, Freedman & Parmar 1994, JRSS A 157:357-416; Spiegelhalter,
Abrams & Myles 2004, *Bayesian Approaches to Clinical Trials and Health-Care Evaluation*, ch. 5):

- **skeptical**: centred on no effect, SD such that the prior probability of a benefit at least
  as large as the clinically important value is 5%.
- **enthusiastic**: centred on the clinically important value with the same SD, so that the prior
  probability of no benefit is 5%.
- **neutral** (weakly informative): centred on no effect with a unit-information SD (the
  information of about one patient; Kass & Wasserman 1995, JASA 90:928-934). Log odds ratio:
  N(0, 4²), the unit-information prior of Röver (2020, J Stat Softw 93(6), section 2.2 and
  appendix A). Mean difference: N(0, (2σ)²) with the outcome SD σ recovered from the SE and the
  arm sizes, σ = se·sqrt(n_t n_c / (n_t + n_c)); without arm sizes, N(0, (10·se)²) (1% of the
  trial's information).
- **flat**: the likelihood alone.
- **map**: the meta-analytic-predictive prior (:mod:`bayes_il2.reanalysis.map_prior`);
  **map_robust**: it mixed with the neutral prior (weight ``robust_weight``; Schmidli et al. 2014).

Clinically important values. Odds ratio 2.0 by default for responses (a doubling of the odds of a
response, the smallest effect rheumatology trials usually power for; for infections the same
factor in the harm-reducing direction, OR 0.5); 10 mm on a 0-100 VAS for patient-reported
symptoms (the value used by the analysis spec ``models/pss_reanalysis.toml``). Both are arguments.
"""
from __future__ import annotations

import math
from typing import Any

from scipy import stats

from bayes_il2.errors import ModelError
from bayes_il2.reanalysis.endpoints import BinaryEndpoint, Endpoint
from bayes_il2.reanalysis.mixture import FlatPrior, NormalMixture

Prior = NormalMixture | FlatPrior

#: Unit-information SD of a log odds ratio (Röver 2020, J Stat Softw 93(6), appendix A).
LOG_OR_UNIT_SD = 4.0
#: Tail probability that fixes the SD of the skeptical and enthusiastic priors.
TAIL = 0.05
BUILT_IN = ("skeptical", "neutral", "enthusiastic", "flat", "map", "map_robust")


def important_effect(endpoint: Endpoint, clinically_important_or: float = 2.0,
                     mcid: float | None = None) -> float | None:
    """The clinically important effect on the model scale, signed in the direction of benefit.

    Binary: ``benefit_sign * |log(OR)|`` (OR 2 and OR 0.5 are the same size). Continuous:
    ``benefit_sign * |mcid|``, or None when no MCID is given.
    """
    if isinstance(endpoint, BinaryEndpoint):
        if not clinically_important_or > 0 or clinically_important_or == 1:
            raise ModelError(f"clinically_important_or must be positive and not 1, got {clinically_important_or}")
        return endpoint.benefit_sign * abs(math.log(clinically_important_or))
    if mcid is None:
        return None
    if mcid == 0:
        raise ModelError("mcid must be non-zero")
    return endpoint.benefit_sign * abs(float(mcid))


def skeptical(important: float, tail: float = TAIL) -> NormalMixture:
    """N(0, s²) with P(effect beyond ``important``) = ``tail``: s = |important| / z_(1 - tail)."""
    return NormalMixture.normal(0.0, abs(important) / stats.norm.ppf(1 - tail), "skeptical")


def enthusiastic(important: float, tail: float = TAIL) -> NormalMixture:
    """N(important, s²) with P(no benefit) = ``tail``: s = |important| / z_(1 - tail)."""
    return NormalMixture.normal(important, abs(important) / stats.norm.ppf(1 - tail), "enthusiastic")


def neutral(endpoint: Endpoint) -> NormalMixture:
    """Weakly informative, unit-information prior centred on no effect (see the module docstring)."""
    if isinstance(endpoint, BinaryEndpoint):
        return NormalMixture.normal(0.0, LOG_OR_UNIT_SD, "neutral")
    if endpoint.n_t is not None and endpoint.n_c is not None:
        sigma = endpoint.se * math.sqrt(endpoint.n_t * endpoint.n_c / (endpoint.n_t + endpoint.n_c))
        return NormalMixture.normal(0.0, 2.0 * sigma, "neutral")
    return NormalMixture.normal(0.0, 10.0 * endpoint.se, "neutral")


def flat() -> FlatPrior:
    return FlatPrior()


def robustify(prior: NormalMixture, weight: float = 0.2, vague: NormalMixture | None = None,
              label: str | None = None) -> NormalMixture:
    """Mix ``prior`` with a vague component: (1 - weight) * prior + weight * vague.

    Parameters
    ----------
    prior : NormalMixture
        Usually the MAP prior.
    weight : float
        Prior probability that the new trial is not exchangeable with the historical ones
        (Schmidli et al. 2014, Biometrics 70:1023-1032; RBesT ``robustify``). 0 returns ``prior``
        and 1 returns ``vague``.
    vague : NormalMixture
        The robust component; the reanalysis uses the neutral (unit-information) prior, centred on
        no effect rather than on the MAP mean, so that robustness pulls towards scepticism.
    """
    if vague is None:
        raise ModelError("robustify needs the vague component (e.g. neutral(endpoint))")
    if not 0 <= weight <= 1:
        raise ModelError(f"robust weight must be in [0, 1], got {weight}")
    name = label if label is not None else f"{prior.label}_robust" if prior.label else "robust"
    if weight == 0:
        return NormalMixture(prior.weights, prior.means, prior.sds, name)
    if weight == 1:
        return NormalMixture(vague.weights, vague.means, vague.sds, name)
    return prior.mix(vague, weight, label=name)


def build_priors(endpoint: Endpoint, priors: list[str] | tuple[str, ...] | dict[str, Prior], *,
                 clinically_important_or: float = 2.0, mcid: float | None = None,
                 robust_weight: float = 0.2, map_prior: Any = None,
                 tail: float = TAIL) -> dict[str, Prior]:
    """Named priors for ``endpoint``: built-in names are built, prior objects are passed through.

    ``map_prior`` is a :class:`NormalMixture` or a :class:`~bayes_il2.reanalysis.map_prior.MapPrior`.

    Raises
    ------
    ModelError
        For an unknown name, for skeptical/enthusiastic without a clinically important value, or
        for map/map_robust without ``map_prior``.
    """
    if isinstance(priors, dict):
        items = list(priors.items())
    else:
        items = [(name, name) for name in priors]
    important = important_effect(endpoint, clinically_important_or, mcid)
    out: dict[str, Prior] = {}
    for name, spec in items:
        if not isinstance(spec, str):
            if not isinstance(spec, (NormalMixture, FlatPrior)):
                raise ModelError(f"prior {name!r}: expected a NormalMixture or FlatPrior, got {type(spec).__name__}")
            out[name] = spec
            continue
        if spec not in BUILT_IN:
            raise ModelError(f"unknown prior {spec!r}; built-in priors: {', '.join(BUILT_IN)}")
        if spec in ("skeptical", "enthusiastic"):
            if important is None:
                raise ModelError(f"{endpoint.name}: the {spec} prior needs a clinically important value "
                                 "(mcid for a mean difference)")
            out[name] = (skeptical if spec == "skeptical" else enthusiastic)(important, tail)
        elif spec == "neutral":
            out[name] = neutral(endpoint)
        elif spec == "flat":
            out[name] = flat()
        else:
            if map_prior is None:
                raise ModelError(f"{endpoint.name}: prior {spec!r} needs map_prior "
                                 "(see bayes_il2.reanalysis.map_prior)")
            mixture = getattr(map_prior, "mixture", map_prior)  # a MapPrior or its NormalMixture
            base = NormalMixture(mixture.weights, mixture.means, mixture.sds, "map")
            out[name] = base if spec == "map" else robustify(base, robust_weight, neutral(endpoint), "map_robust")
    return out
