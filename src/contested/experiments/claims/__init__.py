"""Run claims: several sweep processes on one runs directory train each run once (no torch).

Before a run is trained, the process that trains it takes the run's **claim**, the hidden file
``runs_dir/.<run_id>.claim`` (:func:`contested.rundir.claim_file`), holding JSON::

    {"run_id": ..., "token": "<uuid4 hex>", "host": ..., "pid": ..., "boot_id": ..., "pid_ns": ...,
     "proc_start": ..., "started": <epoch s>, "heartbeat": <epoch s>}

Protocol (only ``link``, ``rename`` and ``unlink``, which are atomic on local disks and on NFS;
no ``flock``/``fcntl`` locks, which NFS serves only with a lock daemon):

* **create** (:func:`try_claim`): the record is written to a unique temporary file and
  hard-linked to the claim's name; ``link`` fails when the name exists, so of any number of
  processes exactly one creates the claim, and nobody ever sees a half-written one. (Where the
  filesystem has no hard links, ``open(O_CREAT | O_EXCL)`` is used instead.)
* **heartbeat** (:class:`Heartbeat`): while the run trains, a daemon thread rewrites the record
  with a new ``heartbeat`` time every :func:`heartbeat_interval` seconds (temporary file +
  ``rename``), after checking that the claim is still its own.
* **stale** (:func:`is_stale`): a claim whose owner is gone may be taken over. The owner is gone
  when the claim names this host (host name, boot id and pid namespace) and its pid is no
  process (or a zombie, or a newer process that reuses the pid); on any host, when its heartbeat
  is older than the timeout (``contested sweep --claim-timeout``, default
  :data:`DEFAULT_TIMEOUT` s).
* **takeover**: one process at a time (the holder of the run's takeover lock,
  ``.<run_id>.claim.takeover``, created the same exclusive way) re-reads the claim, renames it to
  a unique name, checks that it is the very claim judged stale (same token, still stale; if not,
  it is put back), removes it, and then claims the run afresh by the create above. Of processes
  racing to take over a claim exactly one wins: the others find the lock taken, then the new
  claim live. (A lock whose holder died is stale like a claim, after at most
  :data:`LOCK_TIMEOUT` s.)
* **release** (:func:`release`): after the run's ``DONE`` or ``ERROR`` is written, the owner
  removes its claim the same way (set aside, check the token, unlink), so it never removes a claim
  that another process took over meanwhile.

Heartbeat times are wall-clock times of the writing host: hosts sharing a runs directory need
clocks that agree to well within the timeout (NTP does).

Modules: :mod:`~contested.experiments.claims.record` (the :class:`Claim` record, staleness,
reading) and :mod:`~contested.experiments.claims.protocol` (create, takeover, heartbeat, release);
every name is also importable from ``contested.experiments.claims`` itself (lazily).
"""

from __future__ import annotations

from contested._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_TIMEOUT": "record", "LOCK_TIMEOUT": "record", "POLL_SECONDS": "record", "Claim": "record",
    "is_stale": "record", "live_claim": "record", "live_claims": "record", "owner_gone": "record",
    "parse_claim": "record", "read_claim": "record", "same_host": "record", "Heartbeat": "protocol",
    "heartbeat_interval": "protocol", "holding": "protocol", "refresh": "protocol", "release": "protocol",
    "try_claim": "protocol",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
