"""Shared test configuration: the number of hypothesis examples per tier, and one
compilation cache for the session.

The full suite (``python -m pytest``) runs every property with 100 examples;
the fast tier (``python -m pytest -m "not slow"``) runs 10, enough to exercise
every call path. ``PROPERTY_SETTINGS`` in the property tests leaves
``max_examples`` to the profile loaded here.

Many tests compile the same XLA programs (the same kernel through another
wrapper, the trainer's steps in each subprocess run): a persistent compilation
cache in a fresh temporary directory, shared by the test processes and the
subprocesses they start and deleted at the end, compiles each program once.
Set ``JAX_COMPILATION_CACHE_DIR`` to choose the directory yourself.

With pytest-xdist (``-n auto --dist loadgroup`` in ``pyproject.toml``) tests
are spread over one process per core, one by one, except the files in
:data:`ONE_PROCESS`: their tests share a module-scoped fixture (one expensive
run, or results computed once), so each of those files runs in one process.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

ONE_PROCESS = {"test_benchmarks.py", "test_celu_alpha.py", "test_checkpoint.py",
               "test_consistency.py", "test_device_check.py", "test_numerics.py",
               "test_opcount.py", "test_paper_checks.py", "test_sweep.py"}

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # before jax is imported; inherited by workers
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jelu-tests-xla-cache-")
    os.environ["JELU_TESTS_OWN_CACHE"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")  # not the small ones
    # A size limit makes JAX read and write the entries under a file lock (the
    # filelock package), so that the test processes never see half a file.
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))

settings.register_profile("jelu-full", max_examples=100)
settings.register_profile("jelu-fast", max_examples=10)


def pytest_unconfigure(config) -> None:
    own = os.environ.get("JELU_TESTS_OWN_CACHE")
    if own and not hasattr(config, "workerinput"):  # the main process, after every worker
        shutil.rmtree(own, ignore_errors=True)


def pytest_configure(config) -> None:
    markexpr = (getattr(config.option, "markexpr", "") or "").replace(" ", "")
    settings.load_profile("jelu-fast" if "notslow" in markexpr else "jelu-full")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.path.name in ONE_PROCESS:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
