"""Adverse-event synthesis beyond the model families: what each AE analysis assumes about exposure
(:mod:`.statements`), and the package's pooled AE rates beside published ones (:mod:`.published`).
"""
from bayes_il2.safety.published import published_comparison, published_explanations
from bayes_il2.safety.statements import (CONTRAST_STATEMENT, exposure_headline, exposure_statement,
                                         pooled_rate_row)

__all__ = ["CONTRAST_STATEMENT", "exposure_headline", "exposure_statement", "pooled_rate_row",
           "published_comparison", "published_explanations"]
