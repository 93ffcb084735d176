"""The JAX functions the tests use whose spelling depends on the JAX release.

jelu supports the JAX releases ``pyproject.toml`` declares; CI runs the fast
tier on the oldest of them. Two functions the tests use became public later:

* ``enable_x64``: ``jax.enable_x64`` (JAX >= 0.8), ``jax.experimental.enable_x64``
  before; a context manager that turns 64-bit types on or off.
* ``unregister_event_duration_listener``: ``jax.monitoring``'s (JAX >= 0.8),
  a private function of the same module before.
"""

from __future__ import annotations

import jax
import jax.monitoring

if hasattr(jax, "enable_x64"):
    enable_x64 = jax.enable_x64
else:  # JAX < 0.8
    from jax.experimental import enable_x64  # noqa: F401

if hasattr(jax.monitoring, "unregister_event_duration_listener"):
    unregister_event_duration_listener = jax.monitoring.unregister_event_duration_listener
else:  # JAX < 0.8
    from jax._src.monitoring import _unregister_event_duration_listener_by_callback as unregister_event_duration_listener  # noqa: E501
