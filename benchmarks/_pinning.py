"""The pinned child of ``benchmarks.run``: its hidden flag, and its pinning before jax starts.

``python -m benchmarks.run`` times the trainer step twice, the second time in
a child process (this script with :data:`PINNED_CHILD_FLAG` and a CPU number)
that is restricted to that one CPU. XLA's CPU client sizes its thread pool
from the affinity mask when it is created, so the pinning must come before
jax is imported: this module imports nothing of jax, and ``run`` calls
:func:`pin_before_jax` before its own imports.
"""

from __future__ import annotations

import os
from typing import Sequence

#: Hidden flag: run only the trainer-step timing, pinned to the given CPU, and
#: print its figures as one JSON line (see ``benchmarks._run_trainer``).
PINNED_CHILD_FLAG = "--pinned-trainer-child"


def pin_before_jax(argv: Sequence[str]) -> None:
    """In the pinned child, restrict this process to one CPU before jax is imported.

    A malformed flag is left for ``run.parse_args`` to report; a failed
    pinning is caught by the child's own check of its CPU count.
    """
    if PINNED_CHILD_FLAG not in argv:
        return
    try:
        os.sched_setaffinity(0, {int(argv[list(argv).index(PINNED_CHILD_FLAG) + 1])})
    except (IndexError, ValueError, OSError, AttributeError):
        pass
