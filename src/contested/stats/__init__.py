"""contested.stats: correlations of annotation entropy with learning dynamics (no torch).

Public API (see docs/analysis.md for the tables' columns)
----------------------------------------------------------
Per run
    run_statistics(item_metrics_df, *, metric="aulc", covariates=DEFAULT_COVARIATES,
                   n_boot=10_000, seed=0, confidence=0.95, conditions=None) -> DataFrame
    spearman_ci(x, y, *, n_boot, seed, confidence) -> SpearmanResult
    kendall_tau(x, y) -> (tau_b, p)
    partial_spearman(x, y, covariates) -> PartialResult       (df = n − k − 2)
    rho_by_label(metrics, *, metric) -> DataFrame
    incremental_r2(y, base, added) -> R2Result                (OLS, F-test)
    bin_means(df, *, value, by="bin", confidence=0.95) -> DataFrame   (t intervals)
    unlearning_summary(metrics) -> DataFrame
    bootstrap_spearman(x, ys, *, n_boot, seed) -> (m, n_boot) array;  bootstrap_indices(...)
Across runs
    seed_aggregate(run_stats, *, by=None) -> DataFrame        (mean ± std, Fisher-z pooled ρ)
    fisher_z_pool(rho, n, *, confidence, spearman=True) -> PooledRho
    hierarchical_bootstrap(metrics, *, metric, n_boot, seed) -> dict   (items × seeds)
    holm(p), benjamini_hochberg(p), adjust_pvalues(p, *, method), correct_across_conditions(table)
    paired_rho_difference(metrics_a, metrics_b, *, metric, n_boot, seed) -> dict
    seed_stability(metrics, *, metric) -> dict;  kendalls_w(ratings) -> (W, chi2, p)
    noise_injection_test(noisy, control, *, metric, bins=("clean",)) -> dict
"""

from contested.stats.bootstrap import (
    bootstrap_indices,
    bootstrap_spearman,
    percentile_ci,
    resample_counts,
)
from contested.stats.correlation import (
    PartialResult,
    SpearmanResult,
    kendall_tau,
    partial_spearman,
    rho_by_label,
    spearman_ci,
)
from contested.stats.means import binomial_mean_draws, hierarchical_mean_draws, mean_ci
from contested.stats.multiple import (
    adjust_pvalues,
    benjamini_hochberg,
    correct_across_conditions,
    holm,
)
from contested.stats.paired import (
    kendalls_w,
    noise_injection_test,
    paired_rho_difference,
    seed_stability,
)
from contested.stats.pooling import (
    FIELLER,
    PooledRho,
    fisher_z_pool,
    hierarchical_bootstrap,
    seed_aggregate,
)
from contested.stats.run import (
    CONDITION_COLUMNS,
    DEFAULT_COVARIATES,
    R2_BASE,
    RUN_CONDITION_COLUMNS,
    RUN_STAT_COLUMNS,
    run_statistics,
)
from contested.stats.summaries import BINS, R2Result, bin_means, incremental_r2, unlearning_summary

__all__ = [
    "BINS",
    "CONDITION_COLUMNS",
    "DEFAULT_COVARIATES",
    "FIELLER",
    "R2_BASE",
    "RUN_CONDITION_COLUMNS",
    "RUN_STAT_COLUMNS",
    "PartialResult",
    "PooledRho",
    "R2Result",
    "SpearmanResult",
    "adjust_pvalues",
    "benjamini_hochberg",
    "bin_means",
    "binomial_mean_draws",
    "bootstrap_indices",
    "bootstrap_spearman",
    "correct_across_conditions",
    "fisher_z_pool",
    "hierarchical_bootstrap",
    "hierarchical_mean_draws",
    "holm",
    "incremental_r2",
    "kendall_tau",
    "kendalls_w",
    "mean_ci",
    "noise_injection_test",
    "paired_rho_difference",
    "partial_spearman",
    "percentile_ci",
    "resample_counts",
    "rho_by_label",
    "run_statistics",
    "seed_aggregate",
    "seed_stability",
    "spearman_ci",
    "unlearning_summary",
]
