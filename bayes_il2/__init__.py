"""bayes_il2: Bayesian evidence synthesis of low-dose interleukin-2."""
__version__ = "0.1.0"
