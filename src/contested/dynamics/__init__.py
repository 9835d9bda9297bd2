"""contested.dynamics: per-item learning-dynamics metrics from recorded trajectories (no torch).

Public API
----------
item_metrics(dynamics, items=None, *, measurement="snapshot") -> DataFrame
    One row per run × item: AULC, Δℓ, cartography, forgetting (docs/analysis.md).
trajectories(dynamics, *, measurement="snapshot") -> Trajectories
    The (trajectory × checkpoint) matrices every metric reduces over.
metrics_from_trajectories(traj) -> DataFrame
simulate_items(n, *, seed) / simulate_dynamics(items, *, rho, method, seed, ...) /
simulate_sweep(items, *, rho, methods, seeds)
    Seeded synthetic item and dynamics tables with a known ρ(entropy, AULC).

Human fit (ChaosNLI's convention; docs/scoring.md)
    jsd(p_h, p_hat), kl(p_h, p_hat), prediction_entropy(p_hat), softmax(logits),
    lewidi_cross_entropy(p_h, p_hat), micro_f1(y_true, y_pred)       (n, K) → (n,)
    item_scores(p_h, p_hat, *, majority, old_label, predicted) / summarise(scores, by)
    human_fit_table / human_fit_items / unlearning_decomposition / chaosnli_scores(dynamics, items, ...)
    score_predictions(items, predictions) / score_file(dataset, path) -> Scores   (`contested score`)
    chaosnli_predictions(dynamics, *, label_names, model_name, checkpoint)   (`contested export chaosnli`)
"""

from contested.dynamics.export import chaosnli_predictions, select_checkpoint
from contested.dynamics.human_fit import (
    chaosnli_scores,
    human_fit_items,
    human_fit_table,
    unlearning_decomposition,
)
from contested.dynamics.human_scores import (
    item_scores,
    jsd,
    kl,
    lewidi_cross_entropy,
    micro_f1,
    normalize_prediction,
    prediction_entropy,
    softmax,
    summarise,
)
from contested.dynamics.metrics import (
    ITEM_COLUMNS,
    METRIC_COLUMNS,
    item_metrics,
    metrics_from_trajectories,
)
from contested.dynamics.scoring import Scores, score_file, score_predictions
from contested.dynamics.simulate import (
    simulate_dynamics,
    simulate_items,
    simulate_sweep,
    snapshot_steps,
)
from contested.dynamics.simulate_curves import UNLEARNING_AMPLITUDE
from contested.dynamics.trajectories import (
    DYNAMICS_COLUMNS,
    MEASUREMENTS,
    REQUIRED_COLUMNS,
    Trajectories,
    check_dynamics,
    trajectories,
)

__all__ = [
    "DYNAMICS_COLUMNS",
    "ITEM_COLUMNS",
    "MEASUREMENTS",
    "METRIC_COLUMNS",
    "REQUIRED_COLUMNS",
    "UNLEARNING_AMPLITUDE",
    "Scores",
    "Trajectories",
    "chaosnli_predictions",
    "chaosnli_scores",
    "check_dynamics",
    "human_fit_items",
    "human_fit_table",
    "item_metrics",
    "item_scores",
    "jsd",
    "kl",
    "lewidi_cross_entropy",
    "metrics_from_trajectories",
    "micro_f1",
    "normalize_prediction",
    "prediction_entropy",
    "score_file",
    "score_predictions",
    "select_checkpoint",
    "simulate_dynamics",
    "simulate_items",
    "simulate_sweep",
    "snapshot_steps",
    "softmax",
    "summarise",
    "trajectories",
    "unlearning_decomposition",
]
