# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""The argument and type checks of the public functions, done in Python before the jitted call.

``check_x`` and ``check_alpha`` raise a one-line ``TypeError`` or
``ValueError`` that names the function, the problem and what would be valid;
``check_alpha`` also decides how alpha enters the kernel (None for 1, a
``StaticAlpha``, or the array). ``output_type`` and ``as_weak_type`` give the
result ``jax.nn``'s dtype and weak type.

Imports: ``jax``, ``numpy`` and ``jelu._multiplier``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jelu._multiplier import static_alpha

Array = jax.Array


def as_weak_type(out: Array, weak: bool) -> Array:
    """Mark ``out`` weakly typed, as ``jax.nn`` returns it for weak or integer inputs."""
    if not weak:
        return out
    try:
        from jax._src.lax.lax import _convert_element_type
    except ImportError:  # pragma: no cover - a JAX without the private helper
        return out
    return _convert_element_type(out, out.dtype, weak_type=True)


def output_type(x: Array, alpha: Any, atype: Any) -> tuple[np.dtype, bool]:
    """The result's dtype and weak type, for ``x`` traced inside the jitted call.

    jax.nn's: the promotion of x, alpha and a Python float (jax.nn.elu computes
    ``alpha * expm1(where(x > 0, 0., x))``), for an integer, bool or weakly typed
    x. A strongly typed float x keeps its dtype whatever alpha's (a documented
    difference: jax.nn promotes bfloat16 x with a float32 alpha to float32).
    ``atype`` is alpha's type where the call does not get alpha as an array (see
    ``_alpha_type``), else None (the traced alpha carries its own).
    """
    if jnp.issubdtype(x.dtype, jnp.floating) and not jax.typeof(x).weak_type:
        return x.dtype, False
    dt, weak = jax.dtypes.result_type(x, alpha if atype is None else atype, float, return_weak_type_flag=True)
    return np.dtype(dt), bool(weak)


def _alpha_type(alpha: Any) -> Any:
    """The type jax.nn's promotion sees for a Python or NumPy scalar alpha, which a
    ``StaticAlpha`` (or None, for alpha = 1) does not carry: ``float`` or ``int`` for a
    weakly typed Python number, else its canonical NumPy dtype (float64 is
    float32 unless x64 is enabled). Hashable: a static argument of the jitted call."""
    if isinstance(alpha, (np.ndarray, np.generic)):  # (result_type would warn about float64)
        return np.dtype(jax.dtypes.canonicalize_dtype(alpha.dtype))
    dt, weak = jax.dtypes.result_type(alpha, return_weak_type_flag=True)
    if weak:
        return float if jnp.issubdtype(dt, jnp.floating) else int
    return np.dtype(dt)


_X_DTYPES = "bfloat16, float16, float32, float64, or an integer or bool dtype (promoted to a float as by jax.nn)"


# The dtypes of x checked cheaply (un-jitted calls pay for every check).
_COMMON_DTYPES = frozenset(
    np.dtype(d) for d in (jnp.bfloat16, np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                          np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)
)


_JAX_DTYPES: dict = {}  # dtype -> whether JAX has arrays of it (longdouble, object, str: no)


def _jax_dtype(dt: np.dtype) -> bool:
    ok = _JAX_DTYPES.get(dt)
    if ok is None:
        import warnings

        try:
            with warnings.catch_warnings():  # (float64 without x64: JAX has it, and warns)
                warnings.simplefilter("ignore")
                jax.dtypes.result_type(dt)
            ok = True
        except (TypeError, ValueError):
            ok = False
        _JAX_DTYPES[dt] = ok
    return ok


def _dtype_name(dt: np.dtype) -> str:
    """``longdouble (float128)``, ``float32``: the NumPy type's name, and the dtype's where they differ."""
    name = getattr(dt.type, "__name__", str(dt))
    return name if name == dt.name else f"{name} ({dt.name})"


def _jet_traced(v: Any) -> bool:
    """Whether ``v`` is a jax.experimental.jet tracer (only possible once jet is imported)."""
    import sys

    jet = sys.modules.get("jax.experimental.jet")
    return jet is not None and isinstance(v, getattr(jet, "JetTracer", ()))


def _jet_error(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"jelu.{name}: jax.experimental.jet is not supported (jet ignores custom_jvp rules and cannot "
        "differentiate jelu's bit-level kernel; it fails on jax.nn.relu too); for Taylor coefficients "
        "nest jax.jvp (or use jax.jacfwd / jax.hessian), which use jelu's exact derivatives"
    )


def check_x(x: Any, name: str) -> Any:
    """Check ``x`` in Python; returns it, an object with ``__jax_array__`` converted."""
    if isinstance(x, jax.Array):
        if _jet_traced(x):
            raise _jet_error(name)
        dt = x.dtype
    elif isinstance(x, (np.ndarray, np.generic)):
        dt = x.dtype
    elif hasattr(x, "__jax_array__"):  # as jnp functions accept them (jax.nn's jit no longer does)
        return check_x(x.__jax_array__(), name)
    elif x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"jelu.{name}: x must be an array or a number of a real dtype, got {type(x).__name__}")
    else:
        try:
            dt = np.dtype(jax.dtypes.result_type(x))
        except (TypeError, ValueError):
            raise TypeError(
                f"jelu.{name}: x must be an array or a number of a real dtype, got {type(x).__name__}"
            ) from None
    if dt in _COMMON_DTYPES:
        return x
    if jnp.issubdtype(dt, jnp.complexfloating):
        raise TypeError(
            f"jelu.{name}: complex input (dtype {dt}) is not supported; x must be real: {_X_DTYPES}"
        )
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)) or not _jax_dtype(dt):
        raise TypeError(f"jelu.{name}: x of dtype {_dtype_name(dt)} is not supported; x must be {_X_DTYPES}")
    return x


# The alphas the accuracy claims cover (benchmarks/error_budget.py); a Python or
# NumPy alpha outside them raises ValueError. elu: 0, +-inf (the limits), or |alpha|
# in the range (either sign); celu: alpha in the range.
ALPHA_RANGE = {"elu": (1e-30, 1e30), "celu": (1e-6, 1e30)}


def _alpha_error(name: str, what: str) -> ValueError:
    lo, hi = ALPHA_RANGE[name]
    valid = f"0, +-inf, or {lo:g} <= |alpha| <= {hi:g}" if name == "elu" else f"{lo:g} <= alpha <= {hi:g}"
    return ValueError(f"jelu.{name}: {what} is outside the supported range; alpha must be {valid}")


def _in_range(values: np.ndarray, name: str) -> np.ndarray:
    lo, hi = ALPHA_RANGE[name]
    if name == "elu":
        return (values == 0) | np.isinf(values) | ((np.abs(values) >= lo) & (np.abs(values) <= hi))
    return (values >= lo) & (values <= hi)


def _alpha_type_error(name: str, what: str) -> TypeError:
    return TypeError(
        f"jelu.{name}: alpha {what}; alpha must be a real number (float or integer) or an array of a "
        "float or integer dtype broadcastable against x"
    )


def check_alpha(alpha: Any, x: Any, name: str) -> tuple[Any, Any]:
    """Check ``alpha`` in Python. Returns what the jitted call takes for it, and its type:

    * None for the default 1 (the cheapest path), a ``StaticAlpha`` for another
      Python or NumPy scalar the kernel specializes on (a float, for one it does
      not, such as +-inf), else the array itself;
    * for a scalar, the type jax.nn's promotion sees (``_alpha_type``); None for
      an array, whose type travels with it into the jitted call.
    """
    if type(alpha) in (float, int):  # the common case, checked cheaply
        atype = type(alpha)
        if alpha == 1:
            return None, atype
        lo, hi = ALPHA_RANGE[name]
        if not (lo <= abs(alpha) <= hi and (alpha > 0 or name == "elu")) and not (
            name == "elu" and (alpha == 0 or abs(alpha) == math.inf)
        ):
            raise _alpha_error(name, f"alpha={alpha!r}")
        return static_alpha(float(alpha)), atype
    if isinstance(alpha, jax.Array):
        if _jet_traced(alpha):
            raise _jet_error(name)
    elif not isinstance(alpha, (np.ndarray, np.generic, int, float)):
        if hasattr(alpha, "__jax_array__"):  # as jnp functions accept them (jax.nn's jit no longer does)
            return check_alpha(alpha.__jax_array__(), x, name)
        raise _alpha_type_error(name, f"of type {type(alpha).__name__} is not supported")
    try:
        dt = np.dtype(alpha.dtype if hasattr(alpha, "dtype") else jax.dtypes.result_type(alpha))
    except (TypeError, ValueError):
        raise _alpha_type_error(name, f"of type {type(alpha).__name__} is not supported") from None
    if dt == np.bool_:  # jax.nn treats True as 1; a bool alpha is almost certainly a mistake
        raise _alpha_type_error(name, "of dtype bool is not supported (pass 1.0 for True)")
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)) or not _jax_dtype(dt):
        raise _alpha_type_error(name, f"of dtype {_dtype_name(dt)} is not supported")
    x_shape, a_shape = np.shape(x), np.shape(alpha)
    try:
        jnp.broadcast_shapes(x_shape, a_shape)
    except ValueError:
        raise ValueError(
            f"jelu.{name}: alpha of shape {a_shape} does not broadcast against x of "
            f"shape {x_shape}; pass a scalar or an array broadcastable to {x_shape} "
            f"(e.g. per-channel alpha of shape ({x_shape[-1] if x_shape else 1},))"
        ) from None
    if isinstance(alpha, jax.Array):
        return alpha, None  # concrete or traced, never inspected here: that would sync with the device
    values = np.asarray(alpha, np.float64)
    bad = ~_in_range(values, name)
    if bad.any():
        where = np.argwhere(bad)[0]
        what = f"alpha={float(values[tuple(where)])!r}" if values.ndim == 0 else (
            f"alpha[{', '.join(map(str, where))}]={float(values[tuple(where)])!r}"
        )
        raise _alpha_error(name, what)
    if values.ndim == 0:
        return (None if values == 1 else static_alpha(float(values))), _alpha_type(alpha)
    return alpha, None
