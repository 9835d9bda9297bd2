"""How ``contested sweep`` executes a sweep file (torch-free; the sweep CLI is generated from it)."""

from __future__ import annotations

from contested.config import Config, Range, configclass, nonempty, option
from contested.experiments.claims.record import DEFAULT_TIMEOUT


def executor_names() -> tuple[str, ...]:
    """Registered executors (``local``, ``ray`` and any :func:`register_executor` adds)."""
    from contested.experiments.executors import EXECUTORS

    return tuple(EXECUTORS)


@configclass
class SweepOptions(Config):
    """Where and how a sweep's pending runs are executed (its runs come from the sweep file)."""

    section = "sweep"

    executor: str = option("local", choices=executor_names,
                           help="local (sequential, in this process) or ray (one Ray task per run, with the "
                                "file's resources).")
    ray_address: str | None = option(None, check=nonempty,
                                     help="Join this Ray cluster (with executor ray); default: a local Ray instance.")
    runs_dir: str | None = option(None, check=nonempty,
                                  help="Where run directories go (default: the file's runs_dir, else runs/<name>).")
    force: bool = option(False, help="Rerun finished runs too.")
    claim_timeout: float = option(DEFAULT_TIMEOUT, check=Range(gt=0),
                                  help="Seconds without a heartbeat after which a run claimed by a sweep on "
                                       "another machine counts as abandoned and is taken over (a dead "
                                       "process on this machine is taken over at once).")

    def validate(self) -> None:
        if self.ray_address is not None and self.executor != "ray":
            raise self.fail("ray_address", "needs executor ray")


__all__ = ["SweepOptions", "executor_names"]
