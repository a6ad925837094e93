"""Exact posterior of the random-effects meta-regression with known sampling variances.

Model: y_i ~ N(theta_i, v_i), theta_i ~ N(d_i' b, tau^2) with d_i = (1, x_i) (intercept mu
first when ``intercept=True``), independent Normal (or flat) priors on the coefficients and a
proper prior on tau. Given tau the coefficients are Gaussian (weighted least squares with the
prior as pseudo-observations); their posteriors, the fitted and study effects and the
predictions are Gaussian mixtures over the quadrature nodes of tau.

References
----------
Röver C, Friede T (2023). Using the bayesmeta R package for Bayesian random-effects
meta-regression. Comput Methods Programs Biomed 229:107303.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError
from bayes_il2.exact._common import LOG_2PI, check_effects, check_labels, location_prior
from bayes_il2.exact.marginals import GaussianMixture
from bayes_il2.exact.nnhm import _tau_posterior, summary_rows


def _conditional(y, v, D, b0, lam0, t):
    """Coefficients | tau (mean, covariance) and log p(y | tau) at each tau in ``t``."""
    w = 1.0 / (v[None, :] + t[:, None] ** 2)                       # (n, k)
    P = np.einsum("ki,nk,kj->nij", D, w, D) + np.diag(lam0)[None]  # (n, p, p)
    rhs = (w * y) @ D + lam0 * b0                                  # (n, p)
    try:
        chol = np.linalg.cholesky(P)
    except np.linalg.LinAlgError as exc:
        raise ModelError("meta_regression: the coefficients are not identified (collinear covariates or "
                         "fewer studies than coefficients with flat priors); give Normal priors or drop "
                         "covariates") from exc
    bhat = np.linalg.solve(P, rhs[..., None])[..., 0]
    cov = np.linalg.inv(P)
    resid = y[None, :] - bhat @ D.T
    quad = (w * resid * resid).sum(axis=1) + ((bhat - b0) ** 2 * lam0).sum(axis=1)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    proper = lam0 > 0
    loglik = (-0.5 * len(y) * LOG_2PI + 0.5 * np.log(w).sum(axis=1) - 0.5 * quad - 0.5 * logdet
              + 0.5 * np.log(lam0[proper]).sum() + 0.5 * (~proper).sum() * LOG_2PI)
    return {"b": bhat, "cov": cov, "loglik": loglik}


class ExactMetaRegression:
    """Posterior of the meta-regression (returned by :func:`meta_regression`).

    Attributes
    ----------
    tau : GridMarginal
    coef_names : list of str
        ``"mu"`` (intercept) first when there is one, then the covariates.
    """

    def __init__(self, y, v, D, names, labels, priors, tau, nodes, weights, cond, log_evidence, proper):
        self.yi, self.vi, self.design, self.coef_names, self.labels = y, v, D, names, labels
        self.priors = priors
        self.tau, self.nodes, self.weights = tau, nodes, weights
        self._b, self._cov = cond["b"], cond["cov"]
        self._log_evidence, self._proper = log_evidence, proper

    def __repr__(self) -> str:
        coefs = ", ".join(f"{n}={self.coef(n).mean:.4g}" for n in self.coef_names)
        return f"ExactMetaRegression(k={len(self.yi)}, {coefs}, tau median={self.tau.median:.4g})"

    def _j(self, name: Any) -> int:
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if 0 <= int(name) < len(self.coef_names):
                return int(name)
        elif str(name) in self.coef_names:
            return self.coef_names.index(str(name))
        raise ModelError(f"no coefficient {name!r}; coefficients: {', '.join(self.coef_names)}")

    def coef(self, name: Any) -> GaussianMixture:
        """Posterior of one coefficient (name or position)."""
        j = self._j(name)
        return GaussianMixture(self.weights, self._b[:, j], np.sqrt(self._cov[:, j, j]))

    def beta(self, name: Any) -> GaussianMixture:
        """Posterior of a covariate's coefficient (by covariate name or position among the covariates)."""
        cov_names = [n for n in self.coef_names if n != "mu"]
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if not 0 <= int(name) < len(cov_names):
                raise ModelError(f"covariate position {name} is out of range 0..{len(cov_names) - 1}")
            name = cov_names[int(name)]
        if str(name) not in cov_names:
            raise ModelError(f"no covariate {name!r}; covariates: {', '.join(cov_names)}")
        return self.coef(str(name))

    @cached_property
    def mu(self) -> GaussianMixture:
        """The intercept: the mean effect where all covariates are 0."""
        if "mu" not in self.coef_names:
            raise ModelError("this meta-regression has no intercept (intercept=False)")
        return self.coef("mu")

    def _row(self, x: Any) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        p = self.design.shape[1]
        has_mu = "mu" in self.coef_names
        if has_mu and x.size == p - 1:
            x = np.concatenate([[1.0], x])
        if x.size != p:
            raise ModelError(f"predict: expected {p - int(has_mu)} covariate values "
                             f"({', '.join(n for n in self.coef_names if n != 'mu')}); got {x.size}")
        return x

    def predict(self, x: Any, new_study: bool = False) -> GaussianMixture:
        """Posterior of the mean effect at covariates ``x`` (``new_study=True``: a new study's true
        effect, adding tau^2)."""
        d = self._row(x)
        mean = self._b @ d
        var = np.einsum("i,nij,j->n", d, self._cov, d) + (self.nodes ** 2 if new_study else 0.0)
        return GaussianMixture(self.weights, mean, np.sqrt(var))

    def theta(self, label: Any) -> GaussianMixture:
        """True effect of study ``label`` (label string or int position)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            i = int(label)
        elif str(label) in self.labels:
            i = self.labels.index(str(label))
        else:
            raise ModelError(f"no study labelled {label!r}; labels: {', '.join(self.labels)}")
        d = self.design[i]
        b = self.vi[i] / (self.vi[i] + self.nodes ** 2)
        fit_mean = self._b @ d
        fit_var = np.einsum("i,nij,j->n", d, self._cov, d)
        return GaussianMixture(self.weights, b * fit_mean + (1 - b) * self.yi[i],
                               np.sqrt(self.vi[i] * (1 - b) + b * b * fit_var))

    @property
    def log_marginal_likelihood(self) -> float:
        if not self._proper:
            raise ModelError("the marginal likelihood needs proper (Normal) priors on every coefficient")
        return self._log_evidence

    @property
    def marginal_likelihood(self) -> float:
        return float(np.exp(self.log_marginal_likelihood))

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Coefficients (``mu`` and ``beta[name]``) and tau."""
        items = [("mu", "", self.coef("mu")) if n == "mu" else ("beta", n, self.coef(n)) for n in self.coef_names]
        items.append(("tau", "", self.tau))
        return summary_rows(items, level)


def meta_regression(yi: Any, vi: Any, X: Any, tau_prior: Any, beta_prior: Any = None, *, mu_prior: Any = None,
                    intercept: bool = True, names: Sequence[str] | None = None,
                    labels: Sequence[Any] | None = None, tol: float = 1e-11, order: int = 8) -> ExactMetaRegression:
    """Exact posterior of a random-effects meta-regression.

    Parameters
    ----------
    yi, vi : array-like
        Effects and known sampling variances.
    X : array-like or DataFrame, shape (k,) or (k, p)
        Covariates, without the intercept column (added when ``intercept``).
    tau_prior : prior
        Proper prior on tau.
    beta_prior : Normal, Flat or sequence of them, optional
        Prior of the covariate coefficients (one for all, or one per column); default flat.
    mu_prior : Normal or Flat, optional
        Prior of the intercept; default flat.
    intercept : bool
        Include the intercept ``mu``.
    names : sequence of str, optional
        Covariate names (default: DataFrame columns or x1..xp).
    labels : sequence, optional
        Study labels.

    Returns
    -------
    ExactMetaRegression
    """
    who = "meta_regression"
    y, v = check_effects(yi, vi, who)
    labels_ = check_labels(labels, len(y), who)
    if isinstance(X, pd.DataFrame):
        default_names = [str(c) for c in X.columns]
        Xa = X.to_numpy(dtype=float)
    else:
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim == 1:
            Xa = Xa[:, None]
        default_names = [f"x{j + 1}" for j in range(Xa.shape[1])]
    if Xa.ndim != 2 or Xa.shape[0] != len(y):
        raise ModelError(f"{who}: X must have one row per study ({len(y)}); got shape {Xa.shape}")
    if not np.all(np.isfinite(Xa)):
        i, j = np.argwhere(~np.isfinite(Xa))[0]
        raise ModelError(f"{who}: covariate {j} of study {labels_[i]!r} is not finite")
    cov_names = list(names) if names is not None else default_names
    if len(cov_names) != Xa.shape[1]:
        raise ModelError(f"{who}: {len(cov_names)} names for {Xa.shape[1]} covariates")
    if intercept and "mu" in cov_names:
        raise ModelError(f"{who}: 'mu' is reserved for the intercept")
    if isinstance(beta_prior, (list, tuple)):
        if len(beta_prior) != Xa.shape[1]:
            raise ModelError(f"{who}: {len(beta_prior)} beta priors for {Xa.shape[1]} covariates")
        b_priors = list(beta_prior)
    else:
        b_priors = [beta_prior] * Xa.shape[1]
    D = np.column_stack([np.ones(len(y)), Xa]) if intercept else Xa
    coef_priors = ([mu_prior] if intercept else []) + b_priors
    coef_names = (["mu"] if intercept else []) + cov_names
    pairs = [location_prior(p, who, n) for p, n in zip(coef_priors, coef_names)]
    b0 = np.array([m for m, _ in pairs])
    lam0 = np.array([lam for _, lam in pairs])

    def log_post(t: np.ndarray) -> np.ndarray:
        return tau_prior.logpdf(t) + _conditional(y, v, D, b0, lam0, np.asarray(t, dtype=float))["loglik"]

    tau, nodes, weights, log_z = _tau_posterior(log_post, tau_prior, y, v, tol, order, who)
    cond = _conditional(y, v, D, b0, lam0, nodes)
    return ExactMetaRegression(y, v, D, coef_names, labels_, dict(zip(coef_names, coef_priors), tau=tau_prior),
                               tau, nodes, weights, cond, log_z, bool(np.all(lam0 > 0)))
