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
"""

from contested.dynamics.metrics import (
    ITEM_COLUMNS,
    METRIC_COLUMNS,
    item_metrics,
    metrics_from_trajectories,
)
from contested.dynamics.simulate import (
    UNLEARNING_AMPLITUDE,
    simulate_dynamics,
    simulate_items,
    simulate_sweep,
    snapshot_steps,
)
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
    "Trajectories",
    "check_dynamics",
    "item_metrics",
    "metrics_from_trajectories",
    "simulate_dynamics",
    "simulate_items",
    "simulate_sweep",
    "snapshot_steps",
    "trajectories",
]
