"""simulate_dynamics is bit-identical to its output before the step-by-step refactor (fixed seeds).

The digests were computed with the original single-function implementation; any change to the
order of random draws or to the arithmetic changes them. Outputs are float32 (losses, logits) or
exact (steps, ids), so the digests do not depend on the CPU's SIMD flavour of exp/log.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from contested.dynamics import simulate_dynamics, simulate_items

GOLDEN = {  # case -> (rows, sha256 of the frame)
    "default": ({}, 10560, "d39f4b1edb5d0ea180eb32dcc3434fcaf897cc31c66bd9c36b552decf741b9fd"),
    "ia3-noise": (dict(method="ia3", seed=7, rho=0.5, noise_fraction=0.3), 10560,
                  "28be7a0d107efd5bf41ec453d53284db3b5268460f054486ad854318fd229e90"),
    "full-short": (dict(method="full", seed=11, rho=-0.4, item_seed=5, seed_stability=0.3, total_steps=600,
                        epochs=3, snapshot_every=50, inflight=True), 3840,
                   "09c20ad1a069050f0737fc60cc2b814a38ba0b3e100d3ff77040da900cf11b4b"),
    "lora-noinflight": (dict(seed=2, rho=0.9, inflight=False, total_steps=1000, epochs=2, snapshot_every=37), 7200,
                        "eb55ed368dba1db82ab51330f28a7d5e5a16090c4bfb8dc5981f4ea56f93dd28"),
}


def frame_digest(df: pd.DataFrame) -> str:
    """sha256 over every column's name, dtype and values (logits as one float32 block)."""
    h = hashlib.sha256()
    for col in df.columns:
        s = df[col]
        h.update(f"{col}:{s.dtype}|".encode())
        if col == "logits":
            h.update(np.ascontiguousarray(np.stack(s.to_numpy()), dtype=np.float32).tobytes())
        elif s.dtype == object or str(s.dtype) in ("string", "str"):
            h.update("\x00".join(map(str, s)).encode())
        else:
            h.update(np.ascontiguousarray(s.to_numpy()).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def items():
    return simulate_items(240, seed=3)


@pytest.mark.parametrize("case", list(GOLDEN))
def test_fixed_seed_output_is_unchanged(items, case):
    kwargs, rows, digest = GOLDEN[case]
    dyn = simulate_dynamics(items, **kwargs)
    assert len(dyn) == rows
    assert frame_digest(dyn) == digest
