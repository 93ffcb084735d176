"""Shared test configuration: the number of hypothesis examples per tier.

The full suite (``python -m pytest``) runs every property with 100 examples;
the fast tier (``python -m pytest -m "not slow"``) runs 10, enough to exercise
every call path. ``PROPERTY_SETTINGS`` in the property tests leaves
``max_examples`` to the profile loaded here.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("jelu-full", max_examples=100)
settings.register_profile("jelu-fast", max_examples=10)


def pytest_configure(config) -> None:
    markexpr = (getattr(config.option, "markexpr", "") or "").replace(" ", "")
    settings.load_profile("jelu-fast" if "notslow" in markexpr else "jelu-full")
