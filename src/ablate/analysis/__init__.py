"""The answer to an ablation, from its trials' judgments (pure: no I/O).

- contrasts: arm differences, scaling slopes and curve points as seed- and prompt-aware
  linear contrasts of cell means (the variance model is in its docstring);
- verdicts: the words, by rules declared before the data;
- fits: power laws of a metric against n, and the per-trial unscored check;
- sweep: a whole sweep's analysis (points, comparisons, fits, what is missing), what the
  report, the terminal and MLflow show.
"""

from ablate.analysis.contrasts import (
    MIN_SEEDS,
    Cell,
    Contrast,
    SeedVariance,
    SweepMeans,
    VarianceParts,
    arm_difference,
    cell_group_mean,
    linear_contrast,
    scaling_slope,
    seed_variance,
    sweep_means,
)
from ablate.analysis.fits import (
    PowerLaw,
    UnscoredCheck,
    power_law_fit,
    unscored_check,
    unscored_check_of,
)
from ablate.analysis.verdicts import (
    Verdict,
    compare_arms,
    comparison_verdict,
    slope_verdict,
)

__all__ = [
    "MIN_SEEDS",
    "Cell",
    "Contrast",
    "PowerLaw",
    "SeedVariance",
    "SweepMeans",
    "UnscoredCheck",
    "VarianceParts",
    "Verdict",
    "arm_difference",
    "cell_group_mean",
    "compare_arms",
    "comparison_verdict",
    "linear_contrast",
    "power_law_fit",
    "scaling_slope",
    "seed_variance",
    "slope_verdict",
    "sweep_means",
    "unscored_check",
    "unscored_check_of",
]
