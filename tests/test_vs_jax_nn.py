"""jelu against jax.nn itself, side by side: a future JAX that changes jax.nn's
promotion or numerics makes this file fail instead of letting jelu drift away.

* Types: every combination of x (Python float, int and bool; NumPy scalars and
  arrays of each float dtype; JAX arrays of each float dtype, weakly and
  strongly typed; integer and bool arrays) and alpha (Python float and int;
  NumPy scalars of each float dtype, an integer scalar, arrays; JAX arrays weak
  and strong), for elu and celu (selu: x alone), plain and under jit, in the
  default mode and under x64: the result's dtype and weak type are jax.nn's.
* Values: bfloat16, float16 and float32 x, every alpha form, special values
  (+-0, +-inf, NaN, the smallest subnormal and normal, the largest finite, a
  few ordinary values), eagerly, under jit and vmap, grad (d/dx and d/dalpha)
  and jvp. Wherever jax.nn is right (within JAX_NN_ULPS of a float64 NumPy
  reference, or the same NaN, inf or signed zero), jelu is too (within 1 ULP,
  the same NaN, inf and sign of zero); wherever jax.nn is not, a documented
  difference applies and jelu gives the reference.

Every deliberate difference is listed once, in DIFFERENCES below; the README's
"Differences from jax.nn" states the same ones.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jax_compat import enable_x64
import jelu

FUNCS = {"elu": jelu.elu, "selu": jelu.selu, "celu": jelu.celu}
JAX_NN = {"elu": jax.nn.elu, "selu": jax.nn.selu, "celu": jax.nn.celu}
from jelu.testing import SELU_ALPHA, SELU_SCALE

# --------------------------------------------------------------------------
# The documented differences, all in one place. Each has a reason; the value
# differences have a predicate saying where they apply (the test fails where
# jax.nn is off the reference and none applies).

DIFFERENCES = {
    "float x keeps its dtype": (
        "A strongly typed float x keeps its dtype whatever alpha's dtype: jax.nn promotes (bfloat16 x "
        "with a float32 alpha array gives float32, float16 x with a bfloat16 alpha float32, float32 x "
        "with a float64 alpha float64 under x64). jelu uses alpha at the compute precision (float32, "
        "or float64 for float64 x) and rounds the result once, to x's dtype."
    ),
    "d/dx cancels in jax.nn": (
        "jax.nn's d/dx for x <= 0 is alpha (expm1(u) + 1) (u = x, or x / alpha for celu), which cancels "
        "where exp(u) < 1/2: a few ULPs off from u = -ln 2, 0 below u = -17.3 in float32 (-6.2 in "
        "bfloat16), NaN there for an infinite alpha; jelu's is alpha exp(u), within 1 ULP."
    ),
    "celu d/dalpha cancels in jax.nn": (
        "jax.nn's d celu / d alpha is expm1(u) - u (expm1(u) + 1), two terms that cancel; jelu "
        "computes exp(u)(1 - u) - 1 without cancellation (float32 for 16-bit x)."
    ),
    "celu(-0)": (
        "celu(-0) = -0, as IEEE expm1(-0) and elu(-0) (and f(+-0) = +-0 for every activation); "
        "jax.nn.celu gives +0 (maximum(x, 0) + ... adds +0)."
    ),
    "celu x / alpha underflows in jax.nn": (
        "jax.nn.celu computes x / alpha, which XLA's CPU flushes to 0 where it is subnormal (x near "
        "the smallest normal with alpha > 1): jax.nn gives 0, jelu x."
    ),
    "infinite alpha at 0": (
        "elu(+-0, +-inf): jax.nn gives inf * expm1(0) = NaN; jelu gives +-0 (x itself, the limit)."
    ),
    "jax.nn rounds twice": (
        "jax.nn rounds alpha (a Python float) to a 16-bit x's dtype and rounds expm1 before the "
        "product (selu: two products); jelu rounds once, from float32."
    ),
    "bool alpha": "jelu raises TypeError (almost certainly a mistake); jax.nn treats True as 1.",
    "__jax_array__ alpha": "jelu converts it (as jnp functions do); jax.nn's jit raises ValueError.",
    "jet": "jax.experimental.jet works on jax.nn.elu and selu (plain jnp code); jelu raises "
           "NotImplementedError naming nested jax.jvp (jet ignores custom_jvp rules).",
}

JAX_NN_ULPS = 3  # jax.nn is "right" within this many ULPs of the float64 reference


def _strong_float(x) -> bool:
    aval = jax.typeof(x) if isinstance(x, jax.Array) else None
    if aval is not None:
        return jnp.issubdtype(aval.dtype, jnp.floating) and not aval.weak_type
    return isinstance(x, (np.ndarray, np.generic)) and jnp.issubdtype(x.dtype, jnp.floating)


def _type(y) -> tuple[str, bool]:
    aval = y if isinstance(y, jax.ShapeDtypeStruct) else jax.typeof(y)
    return str(aval.dtype), bool(aval.weak_type)


def _expected_type(x, theirs: tuple[str, bool]) -> tuple[str, bool]:
    """jax.nn's type, except "float x keeps its dtype"."""
    if _strong_float(x):
        return str(jax.dtypes.canonicalize_dtype(x.dtype)), False
    return theirs


# --------------------------------------------------------------------------
# Types


def _weak(v, dtype):
    from jax._src.lax.lax import _convert_element_type

    return _convert_element_type(jnp.asarray(v, dtype), np.dtype(dtype), weak_type=True)


FLOAT_DTYPES = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32,
                "float64": np.float64}


def _x_forms() -> dict:
    """x forms; arrays are 0-d, so that forms of one JAX type share jelu's traces (time);
    alpha's (2,) form covers broadcasting."""
    forms = {"python float": lambda: -2.0, "python int": lambda: -2, "python bool": lambda: True}
    for n, d in FLOAT_DTYPES.items():
        forms[f"np {n} scalar"] = lambda d=d: np.asarray(-2.0, d)[()]
        forms[f"np {n} array"] = lambda d=d: np.array(-2.0, d)
        if n != "float64":
            forms[f"jnp {n} array"] = lambda d=d: jnp.asarray(-2.0, d)
            forms[f"jnp weak {n} scalar"] = lambda d=d: _weak(-2.0, d)
    forms.update({
        "np int64 scalar": lambda: np.int64(-2),
        "np int32 array": lambda: np.array(-2, np.int32),
        "jnp int32 array": lambda: jnp.asarray(-2, jnp.int32),
        "jnp uint8 array": lambda: jnp.asarray(1, jnp.uint8),
        "jnp bool array": lambda: jnp.asarray(True),
    })
    return forms


def _alpha_forms(name: str) -> dict:
    forms = {"default": None, "python float": lambda: 0.5, "python int": lambda: 2}
    for n, d in FLOAT_DTYPES.items():
        forms[f"np {n} scalar"] = lambda d=d: np.asarray(0.5, d)[()]
        if n != "float64":
            forms[f"jnp {n} array"] = lambda d=d: jnp.asarray(0.5, d)
    forms.update({
        "np int32 scalar": lambda: np.int32(2),
        "np float16 0-d array": lambda: np.array(0.5, np.float16),
        "np float32 (2,) array": lambda: np.array([0.5, 2.0], np.float32),
        "jnp weak scalar": lambda: jnp.asarray(0.5),
        "jnp int32 array": lambda: jnp.asarray(2, jnp.int32),
    })
    if name == "elu":  # an infinite alpha takes the traced path even as a Python float
        forms.update({"python inf": lambda: math.inf, "np float16 -inf": lambda: np.float16(-np.inf)})
    return forms


def _call(m, name, alpha_form):
    if alpha_form is None:
        return lambda v: m[name](v)
    return lambda v: m[name](v, alpha_form())


def _type_mismatches(names, x_forms, alpha_forms_of) -> list[str]:
    bad = []
    for name in names:
        alpha_forms = alpha_forms_of(name)
        for (xl, xf), (al, af) in itertools.product(x_forms.items(), alpha_forms.items()):
            x = xf()
            theirs = _type(jax.eval_shape(_call(JAX_NN, name, af), x))
            want = _expected_type(x, theirs)
            for label, ours in (("plain", jax.eval_shape(_call(FUNCS, name, af), x)),
                                ("jit", jax.eval_shape(jax.jit(_call(FUNCS, name, af)), x))):
                if _type(ours) != want:
                    bad.append(f"{label} {name}(x={xl}, alpha={al}): jelu {_type(ours)}, expected {want} "
                               f"(jax.nn {theirs})")
    return bad


@pytest.mark.parametrize("name", ["elu", pytest.param("celu", marks=pytest.mark.slow)])
def test_types_match_jax_nn_for_every_x_and_alpha(name):
    bad = _type_mismatches([name], _x_forms(), _alpha_forms)
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad)


def test_selu_types_match_jax_nn_for_every_x():
    bad = _type_mismatches(["selu"], _x_forms(), lambda name: {"default": None})
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_types_match_jax_nn_under_x64():
    with enable_x64(True):
        x_forms = {k: v for k, v in _x_forms().items()
                   if k in ("python float", "python int", "np float32 array", "np float64 array",
                            "np float64 scalar", "jnp float32 array", "jnp weak float32 scalar",
                            "np int64 scalar", "jnp int32 array")}
        x_forms["jnp float64 array"] = lambda: jnp.array([-2.0, 1.0], jnp.float64)
        x_forms["jnp weak float64 scalar"] = lambda: jnp.asarray(-2.0)
        alphas = {k: v for k, v in _alpha_forms("celu").items()
                  if k in ("default", "python float", "np float64 scalar", "np float32 scalar",
                           "jnp float32 array", "jnp weak scalar")}
        alphas["jnp float64 array"] = lambda: jnp.asarray(0.5, jnp.float64)
        bad = _type_mismatches(["elu", "celu"], x_forms, lambda name: alphas)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_the_type_difference_is_where_jax_nn_promotes_a_float_x():
    """The one type difference, spelled out: x's dtype where jax.nn widens it."""
    cases = [(jnp.ones(2, jnp.bfloat16), jnp.float32(0.5), "float32"),
             (jnp.ones(2, jnp.float16), jnp.bfloat16(0.5), "float32"),
             (jnp.ones(2, jnp.bfloat16), np.float16(0.5), "float32")]
    for name in ("elu", "celu"):
        for x, a, promoted in cases:
            assert JAX_NN[name](x, a).dtype == promoted
            assert FUNCS[name](x, a).dtype == x.dtype
    with enable_x64(True):
        x = jnp.ones(2, jnp.float32)
        assert jax.nn.elu(x, jnp.float64(0.5)).dtype == jnp.float64
        assert jelu.elu(x, jnp.float64(0.5)).dtype == jnp.float32
        assert jelu.celu(x, np.float64(0.5)).dtype == jnp.float32


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_integer_x_with_strong_alpha_and_float_x_with_float16_alpha(name):
    """An integer x with a strong float32 alpha is strong (it stays float32 against bfloat16);
    a Python float x with a float16 alpha is float16."""
    f, g = FUNCS[name], JAX_NN[name]
    xi, bf = jnp.array([-2, 1], jnp.int32), jnp.ones(2, jnp.bfloat16)
    assert _type(f(xi, jnp.float32(0.5))) == _type(g(xi, jnp.float32(0.5))) == ("float32", False)
    assert (f(xi, jnp.float32(0.5)) * bf).dtype == (g(xi, jnp.float32(0.5)) * bf).dtype == jnp.float32
    assert _type(f(-1.0, np.float16(0.5))) == _type(g(-1.0, np.float16(0.5))) == ("float16", False)
    assert _type(f(-1, 0.5)) == _type(g(-1, 0.5)) == ("float32", True)


# --------------------------------------------------------------------------
# Values


DTYPES = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}

# (label, alpha as jelu gets it, alpha's value for the reference (alpha in float32), traced,
# dtypes): powers of two (int 2) take the default path scaled, 0.3 the general product;
# some only in float32, to keep the file under a minute.
ALL = ("bfloat16", "float16", "float32")
ALPHAS = {
    "elu": [("default", None, 1.0, False, ALL), ("int 2", 2, 2.0, False, ("float32",)),
            ("0.3", 0.3, float(np.float32(0.3)), False, ALL),
            ("jnp f32 0.3", "jnp 0.3", float(np.float32(0.3)), True, ALL),
            ("inf", math.inf, math.inf, False, ALL), ("-inf", -math.inf, -math.inf, False, ("float32",)),
            ("jnp f32 inf", "jnp inf", math.inf, True, ("bfloat16", "float32"))],
    "celu": [("default", None, 1.0, False, ALL), ("int 2", 2, 2.0, False, ("float32",)),
             ("0.3", 0.3, float(np.float32(0.3)), False, ALL),
             ("jnp f32 0.3", "jnp 0.3", float(np.float32(0.3)), True, ALL)],
    "selu": [("default", None, 1.0, False, ALL)],
}


def _specials(dtype) -> np.ndarray:
    fi = ml_dtypes.finfo(dtype)
    v = [0.0, -0.0, np.inf, -np.inf, np.nan, float(fi.smallest_subnormal), -float(fi.smallest_subnormal),
         float(fi.smallest_normal), -float(fi.smallest_normal), float(fi.max), -float(fi.max),
         -30.0, -18.0, -5.0, -1.0, -0.25, -1e-3, 0.5, 3.0]
    return np.array(v, np.float64).astype(dtype)


def _reference(name: str, x: np.ndarray, a: float) -> dict:
    """float64 value, d/dx and d/dalpha for the element x (exact in float64)."""
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        neg = np.where(x > 0, 0.0, x)  # -0 stays -0 (np.minimum(-0., 0.) is 0.)
        if name == "selu":
            a, s = SELU_ALPHA, SELU_SCALE
            return {"value": s * np.where(x > 0, x, a * np.expm1(neg)),
                    "dx": s * np.where(x > 0, 1.0, a * np.exp(neg))}
        if math.isinf(a):  # the limits (elu only)
            value = np.where(x < 0, -a, x)
            dx = np.where(x > 0, 1.0, np.where(x == -np.inf, math.copysign(0.0, a), a))
            dx = np.where(np.isnan(x), np.nan, dx)
            return {"value": value, "dx": dx, "dalpha": np.where(x > 0, 0.0, np.expm1(neg))}
        u = neg / (a if name == "celu" else 1.0)
        value = np.where(x > 0, x, a * np.expm1(u))
        dx = np.where(x > 0, 1.0, (a if name == "elu" else 1.0) * np.exp(u))
        # celu: expm1(u) - u exp(u), a series where the two terms cancel (|u| < 1e-2)
        series = -u * u * (1 / 2 + u * (1 / 3 + u * (1 / 8 + u * (1 / 30 + u / 144))))
        g = np.where(np.abs(u) < 1e-2, series, np.expm1(u) - u * np.exp(u))
        da = np.expm1(u) if name == "elu" else np.where(np.isinf(u), -1.0, g)
        return {"value": value, "dx": dx, "dalpha": np.where(x > 0, 0.0, da)}


def _close(y: np.ndarray, ref: np.ndarray, ulps: float, dtype=None, signed: bool = True) -> np.ndarray:
    """Per element: y within ``ulps`` ULPs (of ``dtype``, by default y's own) of the float64
    reference; the same NaN, the same inf, the same sign of zero (``signed``: values; a zero
    derivative may have either sign). Below the smallest normal (XLA's CPU flushes
    subnormals), within the smallest normal, and of the same sign."""
    fi = ml_dtypes.finfo(y.dtype if dtype is None else dtype)
    own = ml_dtypes.finfo(y.dtype)
    tiny = float(own.smallest_normal)
    y = y.astype(np.float64)
    with np.errstate(all="ignore"):
        # beyond the largest finite by half an ULP or more, the correct rounding is inf
        ref = np.where(np.abs(ref) >= float(own.max) * (1 + 2.0 ** -(own.nmant + 1)), ref * np.inf, ref)
        ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(ref), tiny))) - fi.nmant)
        err = np.abs(y - ref)
        finite = np.isfinite(ref) & (ref != 0)
        same_sign = (np.signbit(y) == np.signbit(ref)) | (not signed)
        return np.where(
            np.isnan(ref), np.isnan(y),
            np.where(np.isinf(ref), y == ref,
                     np.where(ref == 0, (np.abs(y) < tiny) & same_sign,
                              finite & ((err <= ulps * ulp) | ((np.abs(ref) < tiny) & (err <= tiny) & same_sign)))))


def _flushed(x: np.ndarray) -> np.ndarray:
    """x with subnormals as the signed zero XLA's CPU reads them as."""
    x = x.astype(np.float64)
    tiny = float(ml_dtypes.finfo(np.float32).smallest_normal)
    return np.where((x != 0) & (np.abs(x) < tiny), np.copysign(0.0, x), x)


def _where_documented(name, label, a, quantity, x, dtype) -> dict:
    """difference name -> mask of the elements it covers."""
    x = x.astype(np.float64)
    u = x / a if name == "celu" else x
    with np.errstate(all="ignore"):
        return {
            "d/dx cancels in jax.nn": np.full(x.shape, quantity == "dx") & (u < -math.log(2)),
            "celu d/dalpha cancels in jax.nn": np.full(x.shape, name == "celu" and quantity == "dalpha") & (x <= 0),
            "infinite alpha at 0": np.full(x.shape, math.isinf(a) and quantity == "value") & (_flushed(x) == 0),
            "celu(-0)": np.full(x.shape, name == "celu" and quantity == "value") & (x == 0) & np.signbit(x),
            "celu x / alpha underflows in jax.nn": np.full(x.shape, name == "celu" and quantity == "value")
            & (np.abs(u) < float(ml_dtypes.finfo(np.float32).smallest_normal)) & (x < 0),
            "jax.nn rounds twice": np.full(x.shape, dtype != np.float32 and quantity in ("value", "dx")
                                           and (name == "selu" or a not in (1.0, 2.0, 0.5, math.inf, -math.inf)
                                                and label != "jnp f32 0.3")) & (x < 0),
        }


def _outputs(m: dict, name: str, alpha, traced: bool, xs: jax.Array) -> dict:
    """Every quantity on every path: eager, jit, grad under vmap (d/dx, d/dalpha), jvp."""
    if alpha is None:
        f = lambda x, a: m[name](x)  # noqa: E731
        a = None
    else:
        a = jnp.float32(0.3 if alpha == "jnp 0.3" else np.inf) if traced else alpha
        f = (lambda x, a: m[name](x, a)) if traced else (lambda x, _: m[name](x, alpha))  # noqa: E731

    def paths(xs, a):
        out = {"value jit": f(xs, a), "dx vmap(grad)": jax.vmap(jax.grad(f), (0, None))(xs, a)}
        out["value jvp"], out["dx jvp"] = jax.jvp(lambda t: f(t, a), (xs,), (jnp.ones_like(xs),))
        if traced:
            out["dalpha vmap(grad)"] = jax.vmap(jax.grad(f, 1), (0, None))(xs, a)
        return out

    out = jax.jit(paths)(xs, a)
    out["value eager"] = f(xs, a)
    return out


CASES = [(name, dt, alpha[:4]) for name in ALPHAS for alpha in ALPHAS[name] for dt in alpha[4]]
_CACHE: dict = {}


def _outputs_cached(m: dict, name: str, dtype_name: str, alpha: tuple) -> dict:
    """_outputs on the special values, once per case (two tests read jax.nn's)."""
    key = (m is FUNCS, name, dtype_name, alpha[0])
    if key not in _CACHE:
        xs = jnp.asarray(_specials(DTYPES[dtype_name]))
        _CACHE[key] = _outputs(m, name, alpha[1], alpha[3], xs)
    return _CACHE[key]


# The fast tier's cases: every function and dtype, a Python, a traced and an infinite alpha.
FAST_CASES = {("elu", "float16", "0.3"), ("selu", "bfloat16", "default"), ("celu", "float32", "default"),
              ("elu", "float32", "jnp f32 inf")}


@pytest.mark.parametrize("name,dtype_name,alpha", [
    pytest.param(n, d, a, marks=() if (n, d, a[0]) in FAST_CASES else pytest.mark.slow, id=f"{n}-{d}-alpha={a[0]}")
    for n, d, a in CASES])
def test_values_and_derivatives_agree_with_jax_nn(name, dtype_name, alpha):
    label, arg, a, traced = alpha
    dtype = DTYPES[dtype_name]
    xs_np = _specials(dtype)
    xs = jnp.asarray(xs_np)
    ours = _outputs_cached(FUNCS, name, dtype_name, alpha)
    theirs = _outputs_cached(JAX_NN, name, dtype_name, alpha)
    refs = _reference(name, xs_np, a)
    refs0 = _reference(name, _flushed(xs_np), a)  # subnormal x read as +-0
    problems = []
    for key in ours:
        quantity = key.split()[0]
        y, z = ours[key], theirs[key]
        want = _type(z) if quantity == "dalpha" else _expected_type(xs, _type(z))  # alpha's type
        if _type(y) != want:
            problems.append(f"{key}: type {_type(y)}, expected {want} (jax.nn {_type(z)})")
        y, z = np.asarray(y), np.asarray(z)
        ref, ref0 = refs[quantity], refs0[quantity]
        # jax.nn computes at x's precision even where it promotes the result (bfloat16 x with a
        # float32 alpha: expm1 in bfloat16): it is right within ULPs of x's dtype.
        signed = quantity == "value"
        jelu_ok = _close(y, ref, 1, signed=signed) | _close(y, ref0, 1, signed=signed)
        nn_ok = (_close(z, ref, JAX_NN_ULPS, dtype, signed) | _close(z, ref0, JAX_NN_ULPS, dtype, signed))
        documented = np.zeros(xs_np.shape, bool)
        for mask in _where_documented(name, label, a, quantity, xs_np, dtype).values():
            documented |= mask
        for i in np.flatnonzero(~jelu_ok | (~nn_ok & ~documented)):
            who = "jelu" if not jelu_ok[i] else "jax.nn (undocumented)"
            problems.append(f"{key} at x={xs_np[i]!r}: {who} wrong: jelu {y[i]!r}, jax.nn {z[i]!r}, "
                            f"reference {ref[i]!r}")
    assert not problems, f"{name}({dtype_name}, alpha={label}):\n" + "\n".join(problems)


@pytest.mark.slow
def test_every_value_difference_is_needed():
    """Each documented value difference covers at least one element where jax.nn is off the
    reference (a JAX that fixes one shows up here: drop it from DIFFERENCES and the README)."""
    used = set()
    for name, dtype_name, alpha in CASES:
        label, arg, a, traced = alpha
        dtype = DTYPES[dtype_name]
        xs_np = _specials(dtype)
        theirs = _outputs_cached(JAX_NN, name, dtype_name, alpha)
        refs, refs0 = _reference(name, xs_np, a), _reference(name, _flushed(xs_np), a)
        for key, z in theirs.items():
            quantity = key.split()[0]
            z = np.asarray(z)
            signed = quantity == "value"
            nn_ok = (_close(z, refs[quantity], JAX_NN_ULPS, dtype, signed)
                     | _close(z, refs0[quantity], JAX_NN_ULPS, dtype, signed))
            for diff, mask in _where_documented(name, label, a, quantity, xs_np, dtype).items():
                if (mask & ~nn_ok).any():
                    used.add(diff)
    value_diffs = {"d/dx cancels in jax.nn", "celu d/dalpha cancels in jax.nn", "infinite alpha at 0",
                   "jax.nn rounds twice", "celu(-0)", "celu x / alpha underflows in jax.nn"}
    assert value_diffs <= set(DIFFERENCES)
    assert used == value_diffs, value_diffs - used


# --------------------------------------------------------------------------
# The other documented differences


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_bool_alpha(name):
    x = jnp.array([-1.0, 1.0])
    np.testing.assert_array_equal(JAX_NN[name](x, True), JAX_NN[name](x, 1.0))  # jax.nn: True is 1
    for alpha in (True, np.bool_(False), jnp.array(True), np.array([True, False])):
        with pytest.raises(TypeError, match=rf"jelu\.{name}: alpha of dtype bool is not supported"):
            FUNCS[name](x, alpha)


class _Wrapped:
    def __init__(self, v):
        self.v = v

    def __jax_array__(self):
        return jnp.asarray(self.v)


@pytest.mark.parametrize("name", ["elu", "celu"])
def test_jax_array_protocol(name):
    x = jnp.array([-1.0, 1.0], jnp.float32)
    want = FUNCS[name](x, jnp.float32(0.5))
    if jax.__version_info__ >= (0, 8):  # jax.nn's jit rejects such an object from JAX 0.8 on
        with pytest.raises(ValueError, match="__jax_array__"):
            JAX_NN[name](x, _Wrapped(jnp.float32(0.5)))
    else:  # and converts it before
        np.testing.assert_allclose(JAX_NN[name](x, _Wrapped(jnp.float32(0.5))), want, rtol=1e-6)
    np.testing.assert_array_equal(FUNCS[name](x, _Wrapped(jnp.float32(0.5))), want)
    np.testing.assert_array_equal(jax.jit(lambda t: FUNCS[name](t, _Wrapped(jnp.float32(0.5))))(x), want)
    np.testing.assert_array_equal(FUNCS[name](_Wrapped(x), 0.5), FUNCS[name](x, 0.5))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["elu", "selu"])
def test_jet(name):
    """jet works on jax.nn's plain jnp code; on jelu it raises, naming nested jax.jvp, whose
    Taylor coefficients agree with jet's on jax.nn."""
    from jax.experimental import jet

    x = jnp.array([-1.5, -0.25, 0.5], jnp.float32)
    v = jnp.ones_like(x)
    primal, (t1, t2, t3) = jet.jet(JAX_NN[name], (x,), ((v, jnp.zeros_like(x), jnp.zeros_like(x)),))
    with pytest.raises(NotImplementedError, match=rf"jelu\.{name}: jax\.experimental\.jet .*jax\.jvp"):
        jet.jet(FUNCS[name], (x,), ((v, jnp.zeros_like(x), jnp.zeros_like(x)),))

    def d(f):
        return lambda t: jax.jvp(f, (t,), (v,))[1]

    f = FUNCS[name]
    np.testing.assert_allclose(f(x), primal, rtol=1e-6)
    np.testing.assert_allclose(d(f)(x), t1, rtol=1e-5)
    np.testing.assert_allclose(d(d(f))(x), t2, rtol=1e-5)
    np.testing.assert_allclose(d(d(d(f)))(x), t3, rtol=1e-5)
