# Copyright 2026 The jelu Authors. Licensed under the Apache License 2.0.
"""Alpha dropout: the dropout that keeps SELU networks self-normalizing.

Klambauer et al. (2017) show that SELU networks keep their activations at mean
0 and variance 1 only with the whole recipe: standardized inputs, LeCun-normal
weights (``jax.nn.initializers.lecun_normal``), SELU, and *alpha dropout*.
Ordinary dropout sets a dropped unit to 0, which is not SELU's saturation value,
and scales the kept ones by ``1 / q``; both move the variance away from 1.
Alpha dropout sets a dropped unit to SELU's negative saturation value
``alpha' = -lambda * alpha`` and applies the affine map ``a y + b`` that puts
mean and variance back to 0 and 1:

* :func:`alpha_dropout` draws one Bernoulli variable per element;
* :func:`feature_alpha_dropout` draws one per channel (whole channels dropped,
  the mask shared along ``broadcast_dims`` as in Flax's ``nn.Dropout``).

Both take an explicit PRNG key and hold no state. The affine correction is
computed in float64 NumPy at trace time for a Python or NumPy ``rate``, from
SELU's constants to 32 digits; a JAX array ``rate`` (for instance one traced
under ``jit``) is fine too, its correction then computed in the compute dtype.
The arithmetic runs in float32 for 16-bit inputs and rounds once to ``x``'s
dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["alpha_dropout", "feature_alpha_dropout", "affine_correction"]

Array = jax.Array


from jelu._checks import as_weak_type
from jelu._constants import SELU_ALPHA_DIGITS, SELU_SCALE_DIGITS, compute_dtype

with localcontext() as _ctx:
    _ctx.prec = 40
    #: SELU's negative saturation value, -lambda * alpha, rounded once to float64.
    ALPHA_PRIME: float = float(-Decimal(SELU_SCALE_DIGITS) * Decimal(SELU_ALPHA_DIGITS))


def affine_correction(rate: float) -> tuple[float, float, float]:
    """``(a, b, a * alpha' + b)`` for a Python ``rate`` in ``[0, 1)``, in float64.

    ``v = q + alpha'^2 q (1 - q)`` with ``q = 1 - rate`` has no cancellation
    (every term is positive), ``1 - q`` is taken as ``rate`` itself, and the
    dropped units' value ``a alpha' + b = a alpha' q`` is computed in that form,
    so each result is within a few float64 ULPs of the exact value.
    """
    q = 1.0 - rate
    v = q + ALPHA_PRIME * ALPHA_PRIME * q * rate
    a = 1.0 / math.sqrt(v)
    return a, -a * rate * ALPHA_PRIME, a * ALPHA_PRIME * q


def _traced_affine(rate: Array, dtype: Any) -> tuple[Array, Array, Array, Array]:
    """``(q, a, b, a * alpha' + b)`` for a JAX array ``rate``, in ``dtype``.

    At ``rate = 1`` every unit is dropped and ``a`` is 0 instead of inf (the
    output is then 0, the limit of ``a alpha' + b`` as ``rate -> 1``); outside
    ``[0, 1]`` every value is NaN.
    """
    rate = rate.astype(dtype)
    q = 1 - rate
    v = q + jnp.asarray(ALPHA_PRIME * ALPHA_PRIME, dtype) * q * rate
    valid = (rate >= 0) & (rate <= 1)
    a = jnp.where(valid, jnp.where(q > 0, jax.lax.rsqrt(jnp.where(q > 0, v, 1)), 0), jnp.nan)
    alpha_prime = jnp.asarray(ALPHA_PRIME, dtype)
    b = jnp.where(rate == 0, -0.0, -a * rate * alpha_prime)  # -0 at rate 0: x * 1 + b is x, -0 too
    return q, a, b, jnp.where(q == 0, 0, a * alpha_prime * q)  # +0 at rate 1


def _combine(key: Array, x: Array, q: Any, a: Any, b: Any, c: Any, mask_shape: tuple[int, ...]) -> Array:
    """``where(keep, a x + b, c)`` with ``keep ~ Bernoulli(q)`` of ``mask_shape``, in the compute dtype."""
    ct = compute_dtype(x.dtype)
    keep = jax.random.bernoulli(key, q, mask_shape)
    y = jnp.where(keep, x.astype(ct) * a + b, c)
    return as_weak_type(y.astype(x.dtype), jax.typeof(x).weak_type)


@partial(jax.jit, static_argnames=("q", "a", "b", "c", "mask_shape"))
def _static_call(key, x, *, q, a, b, c, mask_shape):
    return _combine(key, x, q, a, b, c, mask_shape)


@partial(jax.jit, static_argnames=("mask_shape",))
def _traced_call(key, x, rate, *, mask_shape):
    q, a, b, c = _traced_affine(rate, compute_dtype(x.dtype))
    return _combine(key, x, q, a, b, c, mask_shape)


@partial(jax.jit, static_argnames=("mask_shape",))
def _zeros_call(x, *, mask_shape):
    del mask_shape
    return as_weak_type(jnp.zeros_like(x), jax.typeof(x).weak_type)


# --------------------------------------------------------------------------
# Argument checks, in Python (so that they also raise under an outer jax.jit).


def _describe(v: Any) -> str:
    if hasattr(v, "dtype") and hasattr(v, "shape"):
        return f"{type(v).__name__} of dtype {v.dtype} and shape {tuple(v.shape)}"
    return type(v).__name__


def _check_x(x: Any, name: str) -> Array:
    if not isinstance(x, (jax.Array, np.ndarray, np.generic, float)) and hasattr(x, "__jax_array__"):
        x = x.__jax_array__()
    if isinstance(x, float):  # a Python float: weakly typed, as jax.nn takes it
        return jnp.asarray(x)
    if not isinstance(x, (jax.Array, np.ndarray, np.generic)):
        raise TypeError(f"jelu.{name}: x must be a floating-point array, got {_describe(x)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"jelu.{name}: x must be a floating-point array (bfloat16, float16, float32 or float64), "
            f"got dtype {x.dtype}; dropout of integers, bools or complex numbers is not defined, "
            "cast first (x.astype(jnp.float32))"
        )
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def _check_rate(rate: Any, name: str) -> float | Array:
    """A Python float in [0, 1] for a Python or NumPy rate; a scalar JAX array is returned as is."""
    if isinstance(rate, (bool, np.bool_)):
        raise TypeError(f"jelu.{name}: rate must be a number in [0, 1], got the bool {rate!r}")
    if isinstance(rate, jax.Array):  # concrete or traced: never inspected (that would sync)
        if rate.shape != ():
            raise ValueError(f"jelu.{name}: rate must be a scalar, got shape {rate.shape}")
        if not (jnp.issubdtype(rate.dtype, jnp.floating) or jnp.issubdtype(rate.dtype, jnp.integer)):
            raise TypeError(f"jelu.{name}: rate must be a real number in [0, 1], got dtype {rate.dtype}")
        return rate
    if isinstance(rate, (np.ndarray, np.generic)):
        if rate.shape != ():
            raise ValueError(f"jelu.{name}: rate must be a scalar, got shape {rate.shape}")
        if not (np.issubdtype(rate.dtype, np.floating) or np.issubdtype(rate.dtype, np.integer)):
            raise TypeError(f"jelu.{name}: rate must be a real number in [0, 1], got dtype {rate.dtype}")
        rate = rate.item()
    if not isinstance(rate, (int, float)):
        raise TypeError(f"jelu.{name}: rate must be a number in [0, 1], got {_describe(rate)}")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:  # NaN fails too
        raise ValueError(f"jelu.{name}: rate must be in [0, 1], got {rate!r}")
    return rate


def _check_key(key: Any, name: str) -> Array:
    """A typed PRNG key of shape (); a legacy uint32 key (``jax.random.PRNGKey``) is wrapped."""
    hint = "; pass jax.random.key(seed) (or a legacy jax.random.PRNGKey(seed))"
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        typed = key
    elif dtype is not None and np.dtype(dtype) == np.uint32 and hasattr(key, "shape"):
        try:
            typed = jax.random.wrap_key_data(key)
        except (TypeError, ValueError):
            raise TypeError(f"jelu.{name}: key must be a PRNG key, got uint32 data of shape "
                            f"{tuple(key.shape)}, which is not a key of the default PRNG{hint}") from None
    else:
        raise TypeError(f"jelu.{name}: key must be a PRNG key, got {_describe(key)}{hint}")
    if typed.shape != ():
        raise ValueError(
            f"jelu.{name}: key must be a single PRNG key, got {typed.shape[0] if typed.ndim == 1 else typed.shape} "
            "keys; for one mask per example use jax.vmap over the keys"
        )
    return typed


def _check_deterministic(deterministic: Any, name: str) -> bool:
    if not isinstance(deterministic, (bool, np.bool_)):
        raise TypeError(
            f"jelu.{name}: deterministic must be a Python bool, got {_describe(deterministic)}; "
            "to switch dropout off inside a traced function, pass rate=jnp.where(train, rate, 0.0)"
        )
    return bool(deterministic)


def _check_broadcast_dims(dims: Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"jelu.{name}: broadcast_dims must be a sequence of ints, got "
                        f"{type(dims).__name__}") from None
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"jelu.{name}: broadcast_dims must be ints, got {d!r}")
        if not -ndim <= d < ndim:
            raise ValueError(f"jelu.{name}: broadcast_dims entry {d} is out of range for x of rank {ndim}")
        out.append(int(d) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"jelu.{name}: broadcast_dims {tuple(dims)} repeats an axis")
    return tuple(sorted(out))


def _dropout(key: Any, x: Any, rate: Any, deterministic: Any, broadcast_dims: Any, name: str) -> Array:
    x = _check_x(x, name)
    rate = _check_rate(rate, name)
    deterministic = _check_deterministic(deterministic, name)
    dims = (tuple(range(1, x.ndim - 1)) if broadcast_dims is None
            else _check_broadcast_dims(broadcast_dims, x.ndim, name))
    static_off = isinstance(rate, float) and rate == 0.0
    if key is None and (deterministic or static_off):
        return x
    key = _check_key(key, name)
    if deterministic or static_off:
        return x  # the same array, bit for bit; no random draw
    mask_shape = tuple(1 if i in dims else n for i, n in enumerate(x.shape))
    if isinstance(rate, float):
        if rate == 1.0:
            return _zeros_call(x, mask_shape=mask_shape)
        a, b, c = affine_correction(rate)
        return _static_call(key, x, q=1.0 - rate, a=a, b=b, c=c, mask_shape=mask_shape)
    return _traced_call(key, x, rate, mask_shape=mask_shape)


def alpha_dropout(key: ArrayLike | None, x: ArrayLike, rate: ArrayLike, *,
                  deterministic: bool = False) -> Array:
    r"""Alpha dropout (Klambauer et al., 2017): dropout for self-normalizing SELU networks.

    Each element is kept with probability :math:`q = 1 - \mathrm{rate}` and
    otherwise set to SELU's negative saturation value
    :math:`\alpha' = -\lambda\alpha \approx -1.7581`; an affine map then restores
    mean 0 and variance 1 for inputs with mean 0 and variance 1:

    .. math::
      y = a \left(x\, m + \alpha' (1 - m)\right) + b,
      \qquad m \sim \mathrm{Bernoulli}(q),

      a = \left(q + \alpha'^2 q (1 - q)\right)^{-1/2},
      \qquad b = -a (1 - q)\, \alpha'.

    So a kept element becomes :math:`a x + b` and a dropped one
    :math:`a \alpha' + b = a \alpha' q`. The gradient is :math:`a\, m`; the key
    gets none. The mask is ``jax.random.bernoulli(key, 1 - rate, x.shape)``:
    one random draw per element.

    ``a`` and ``b`` are computed in float64 at trace time from a Python or NumPy
    ``rate`` and SELU's constants to 32 digits; a JAX array ``rate`` (traced
    or not) works too, with ``a`` and ``b`` computed in the compute dtype
    (float32 for 16- and 32-bit ``x``). The arithmetic runs in float32 for
    bfloat16 and float16 ``x`` and rounds once to ``x``'s dtype.

    Special rates: ``rate = 0`` returns ``x`` itself (no draw), as does
    ``deterministic=True``; with either, ``key`` may be None. ``rate = 1``
    drops every element and returns zeros (the limit of :math:`a\alpha' q` as
    :math:`q \to 0`; :math:`a` itself diverges), with a zero gradient and no
    NaN. A Python or NumPy ``rate`` outside ``[0, 1]`` raises ``ValueError``;
    a JAX array ``rate`` is never inspected (that would wait for the device),
    and outside ``[0, 1]`` gives NaN.

    Args:
      key: a PRNG key, ``jax.random.key(seed)`` (a legacy
        ``jax.random.PRNGKey(seed)`` works too); one key per call, so for one
        mask per example ``jax.vmap`` over a batch of keys.
      x: a floating-point array (bfloat16, float16, float32, float64) or a
        Python float; integer, bool and complex inputs raise ``TypeError``.
      rate: the probability of dropping an element, in ``[0, 1]``.
      deterministic: a Python bool; True returns ``x`` unchanged (evaluation).

    Returns:
      An array of ``x``'s shape and dtype (weakly typed when ``x`` is).

    Examples:
      >>> import jax, jax.numpy as jnp, jelu
      >>> x = jelu.selu(jax.random.normal(jax.random.key(0), (1_000_000,)))
      >>> y = jelu.alpha_dropout(jax.random.key(1), x, 0.2)
      >>> print(abs(float(y.mean())) < 0.005, round(float(y.var()), 2))  # still mean 0, variance 1
      True 1.0
      >>> print(f"{float(jnp.mean(y == y.min())):.3f}")  # the dropped share one value, a * alpha' + b
      0.200
      >>> jelu.alpha_dropout(None, x, 0.2, deterministic=True) is x
      True

    References:
      Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural
      Networks", NeurIPS 2017, section "New Dropout Technique".
      https://arxiv.org/abs/1706.02515
    """
    return _dropout(key, x, rate, deterministic, (), "alpha_dropout")


def feature_alpha_dropout(key: ArrayLike | None, x: ArrayLike, rate: ArrayLike, *,
                          broadcast_dims: Sequence[int] | None = None,
                          deterministic: bool = False) -> Array:
    r"""Alpha dropout of whole channels: one mask value shared along ``broadcast_dims``.

    The same map as :func:`alpha_dropout`,

    .. math::
      y = a \left(x\, m + \alpha' (1 - m)\right) + b,
      \qquad a = \left(q + \alpha'^2 q (1 - q)\right)^{-1/2},
      \qquad b = -a (1 - q)\, \alpha',

    with :math:`q = 1 - \mathrm{rate}` and :math:`\alpha' = -\lambda\alpha`, but
    the mask :math:`m` is drawn with size 1 along ``broadcast_dims`` and
    broadcast, as in Flax's ``nn.Dropout(broadcast_dims=...)``: a dropped
    channel is dropped at every position (PyTorch's ``FeatureAlphaDropout``).
    Every element still has the same marginal distribution, so mean 0 and
    variance 1 are kept. The mask is
    ``jax.random.bernoulli(key, 1 - rate, shape)`` with ``shape`` that of
    ``x`` with 1 at ``broadcast_dims``.

    Args:
      key: a PRNG key, as for :func:`alpha_dropout`.
      x: a floating-point array.
      rate: the probability of dropping a channel, in ``[0, 1]``.
      broadcast_dims: the axes along which the mask is shared (negative axes
        count from the end). Default: every axis but the first and the last,
        which drops whole channels of a channels-last batch (``N, ..., C``:
        ``NHWC`` images, ``NLC`` sequences); for channels-first
        ``(N, C, H, W)`` pass ``(2, 3)``. For ``x`` of rank 2 or less the
        default shares nothing, which is :func:`alpha_dropout`.
      deterministic: a Python bool; True returns ``x`` unchanged.

    Returns:
      An array of ``x``'s shape and dtype (weakly typed when ``x`` is).

    Examples:
      >>> import jax, jax.numpy as jnp, jelu
      >>> x = jnp.zeros((2, 3, 3, 4))  # NHWC: 2 images, 3 x 3 pixels, 4 channels
      >>> y = jelu.feature_alpha_dropout(jax.random.key(0), x, 0.5)
      >>> bool(jnp.all(y == y[:, :1, :1, :]))  # each channel of each image kept or dropped whole
      True

    References:
      Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural
      Networks", NeurIPS 2017. https://arxiv.org/abs/1706.02515
    """
    return _dropout(key, x, rate, deterministic, broadcast_dims, "feature_alpha_dropout")
