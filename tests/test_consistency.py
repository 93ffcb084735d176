"""One answer on every call path: the same bits jitted or not, however alpha is spelled, at any batch size.

XLA may contract ``a * b + c`` into a fused multiply-add when it compiles a
jitted function (the CPU backend does, GPU compilers do more), and never does
when operations run one by one (``jax.disable_jit()``, eager code). A kernel
whose error-free steps depend on whether a product meets an add therefore gives
different bits on the two paths. Every comparison here is bit for bit: the
value, the first and the second derivative (nested ``jax.jvp``, and
``jax.grad`` of ``jax.grad`` under ``vmap``), for every bfloat16 and float16
input and a float32 sample of 2^18 + points over the whole negative range.
Subnormal inputs are left out (see ``assert_same_bits``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jelu

from jelu.testing import all_bit_patterns, derivative

# name -> x -> activation
CASES = {
    "elu": lambda x: jelu.elu(x),
    "elu(alpha=1.7)": lambda x: jelu.elu(x, 1.7),
    "selu": lambda x: jelu.selu(x),
    "celu(alpha=0.3)": lambda x: jelu.celu(x, 0.3),
    "celu(alpha=2)": lambda x: jelu.celu(x, 2.0),
}
DTYPES = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bit_check_sample(seed: int = 0) -> np.ndarray:
    """2^18 float32 x <= 0 log-uniform over the whole negative range, plus dense
    [-1e-3, 0), the saturation of expm1 (-16..-18.5), the underflow of exp
    (-85..-105, and scaled by 0.3 and 2 for celu), and a few positive x."""
    rng = np.random.default_rng(seed)
    parts = [
        -np.exp(rng.uniform(np.log(1e-38), np.log(3.4e38), 2**18)),
        -rng.uniform(0.0, 1e-3, 30_000),
        -rng.uniform(0.0, 2.0, 10_000),
        -rng.uniform(16.0, 18.5, 10_000),
        -rng.uniform(85.0, 105.0, 10_000),
        -0.3 * rng.uniform(0.0, 105.0, 10_000),
        -2.0 * rng.uniform(0.0, 105.0, 10_000),
        np.exp(rng.uniform(np.log(1e-38), np.log(3e38), 2_000)),
        np.array([0.0, -0.0, -np.inf, np.inf]),
    ]
    return np.concatenate(parts).astype(np.float32)


def inputs(dtype_name: str) -> np.ndarray:
    """Every finite 16-bit value, or the float32 sample, in the dtype itself."""
    dtype = DTYPES[dtype_name]
    if dtype_name == "float32":
        x = bit_check_sample()
        assert x.size >= 2**18
        return x
    return all_bit_patterns(dtype).astype(dtype)


# The full suite checks every (case, dtype) pair; the fast tier one or two per test
# (the other files' fast tests cover the remaining cases on the jitted path).
FAST_EAGER = {("selu", "float32")}  # op by op is the costly path


def grid(fast: set):
    """(case, dtype_name) parameters, those outside ``fast`` marked slow."""
    return [pytest.param(c, d, marks=() if (c, d) in fast else pytest.mark.slow, id=f"{c}-{d}")
            for d in DTYPES for c in CASES]


@functools.cache
def cached_inputs(dtype_name: str) -> jax.Array:
    return jnp.asarray(inputs(dtype_name))


@functools.cache
def jitted(case: str, order: int, mode: str = "jvp"):
    """jax.jit of the order-th derivative (nested jvp, or vmap of nested grad), compiled once per module."""
    d = derivative if mode == "jvp" else reverse_derivative
    return jax.jit(d(CASES[case], order))


@functools.cache
def jitted_on_inputs(case: str, dtype_name: str, order: int, mode: str = "jvp") -> np.ndarray:
    """``jitted(case, order, mode)`` on ``inputs(dtype_name)``, computed once per module."""
    return np.asarray(jitted(case, order, mode)(cached_inputs(dtype_name)))


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(UINT[a.dtype.itemsize])


def assert_same_bits(got, want, x, label: str) -> None:
    """got and want have the same dtype, shape and bits (NaN payloads included), except at subnormal x.

    Subnormal inputs are left out: XLA's CPU code flushes them to zero in some
    fused loops and not in others (measured: under vmap over alpha, bfloat16
    elu(9e-41) is 9e-41 in one program and 0 in another), as it does for every
    other function; the accuracy tests leave them out for the same reason.
    """
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (label, got.dtype, want.dtype, got.shape, want.shape)
    xb = np.broadcast_to(np.asarray(x), got.shape)
    tiny = float(ml_dtypes.finfo(xb.dtype).tiny)
    subnormal = (np.abs(xb.astype(np.float64)) < tiny) & (xb != 0)
    diff = (bits(got) != bits(want)) & ~subnormal
    if diff.any():
        k = np.nonzero(diff.ravel())[0][:5]
        xs = np.broadcast_to(np.asarray(x), got.shape).ravel()
        examples = [(float(xs[i]), float(got.ravel()[i]), float(want.ravel()[i])) for i in k]
        raise AssertionError(f"{label}: {int(diff.sum())} of {diff.size} results differ; (x, got, want): {examples}")


def reverse_derivative(f, order: int):
    """The order-th derivative of an elementwise f by reverse mode: vmap of nested grad."""
    if order == 0:
        return f
    g = f
    for _ in range(order):
        g = jax.grad(g)
    return jax.vmap(g)


# --------------------------------------------------------------------------
# jax.disable_jit() against jax.jit


@pytest.mark.parametrize("case,dtype_name", grid(FAST_EAGER))
def test_disable_jit_matches_jit_bit_for_bit(case, dtype_name):
    """Value, f' and f'' by nested jvp and by vmap(grad(grad)): op by op == jitted, every bit."""
    f = CASES[case]
    x = cached_inputs(dtype_name)
    failures = []
    for order in range(3):
        for mode, d in (("jvp", derivative), ("grad", reverse_derivative)):
            if mode == "grad" and order == 0:
                continue
            jitted_out = jitted_on_inputs(case, dtype_name, order, mode)
            with jax.disable_jit():
                eager = d(f, order)(x)
            try:
                assert_same_bits(eager, jitted_out, x, f"{case} {dtype_name} order {order} ({mode})")
            except AssertionError as e:
                failures.append(str(e))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("case,dtype_name", grid({("elu", "bfloat16"), ("celu(alpha=2)", "float32")}))
def test_public_call_matches_jax_jit_of_it(case, dtype_name):
    """f(x) called plainly == jax.jit(f)(x), and the same for vmap(jax.grad(f)).

    A plain call is what eager code does; once the public function is jitted
    inside, wrapping it in another jit must not change a bit.
    """
    f = CASES[case]
    x = cached_inputs(dtype_name)
    assert_same_bits(f(x), jitted_on_inputs(case, dtype_name, 0), x, f"{case} value")
    g = reverse_derivative(f, 1)
    assert_same_bits(g(x), jitted_on_inputs(case, dtype_name, 1, "grad"), x, f"{case} grad")


# --------------------------------------------------------------------------
# alpha = 1, however it is spelled


ALPHA_ONE = {
    "python 1.0": lambda f: (lambda x: f(x, 1.0)),
    "python int 1": lambda f: (lambda x: f(x, 1)),
    "np.float32(1)": lambda f: (lambda x: f(x, np.float32(1.0))),
    "jnp.float32(1)": lambda f: (lambda x: f(x, jnp.float32(1.0))),
    "weak jnp 1.0": lambda f: (lambda x: f(x, jnp.asarray(1.0))),
}


@pytest.mark.parametrize("name,dtype_name", [
    pytest.param(n, d, marks=() if (n, d) == ("elu", "bfloat16") else pytest.mark.slow)
    for d in DTYPES for n in ("elu", "celu")])
def test_alpha_one_gives_the_same_bits_however_it_is_passed(name, dtype_name):
    """Under jit: elu(x) == elu(x, 1.0) == elu(x, 1) == elu(x, jnp.float32(1.0)) == elu(x, a) with
    a = 1.0 traced (a jit argument, or a vmapped float32 vector of ones), for f, f', f''.

    The same for celu against celu(x): a learnable alpha that starts at 1 must
    not change a bit. (Eager against jit is the test above.)
    """
    f = getattr(jelu, name)
    x = cached_inputs(dtype_name)
    failures = []
    for order in range(3):
        if name == "elu":  # the same program as CASES["elu"]'s, shared with the tests above
            want = jitted_on_inputs(name, dtype_name, order)
        else:
            want = np.asarray(jax.jit(derivative(f, order))(x))
        spellings = ALPHA_ONE if order == 0 else {k: ALPHA_ONE[k] for k in ("python 1.0", "jnp.float32(1)")}
        got = {label: jax.jit(derivative(spell(f), order))(x) for label, spell in spellings.items()}
        got["traced 1.0"] = jax.jit(lambda t, a, o=order: derivative(lambda s: f(s, a), o)(t))(x, 1.0)
        got["traced float32 ones, vmapped"] = jax.jit(
            jax.vmap(lambda a, o=order: derivative(lambda s: f(s, a), o)(x)))(jnp.ones(2, jnp.float32))[1]
        for label, y in got.items():
            try:
                assert_same_bits(y, want, x, f"{name} {dtype_name} alpha={label} order {order}")
            except AssertionError as e:
                failures.append(str(e))
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------
# Batch size and vmap do not change the bits


@pytest.fixture(scope="module")
def million():
    rng = np.random.default_rng(5)
    head = bit_check_sample(seed=6)
    tail = -np.exp(rng.uniform(np.log(1e-30), np.log(200.0), 10**6 - head.size)).astype(np.float32)
    x = np.concatenate([head, tail])
    assert x.size == 10**6
    return x


@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c == "selu" else pytest.mark.slow)
                                  for c in CASES])
def test_batch_of_one_matches_batch_of_a_million(case, million):
    """f, f', f'' at 64 points, each alone (shape (1,) and ()), == the same points inside a batch of 10^6.

    Jitted, and for the value also called plainly.
    """
    f = CASES[case]
    rng = np.random.default_rng(8)
    idx = rng.choice(million.size, 64, replace=False)
    big = jnp.asarray(million)
    for order in range(3):
        d = jitted(case, order)
        whole = np.asarray(d(big))[idx]
        single = np.array([np.asarray(d(big[i:i + 1]))[0] for i in idx])
        scalar = np.array([np.asarray(d(big[i])) for i in idx[:16]])
        assert_same_bits(single, whole, million[idx], f"{case} order {order}, shape (1,)")
        assert_same_bits(scalar, whole[:16], million[idx[:16]], f"{case} order {order}, shape ()")
    whole = np.asarray(f(big))[idx]
    single = np.array([np.asarray(f(big[i:i + 1]))[0] for i in idx])
    assert_same_bits(single, whole, million[idx], f"{case} value, plain call")


@pytest.mark.parametrize("case,dtype_name", grid({("celu(alpha=2)", "float32")}))
def test_vmap_matches_unbatched(case, dtype_name):
    """vmap over rows == one call on the whole (flat) array, for f, f', f'' jitted, and the value plain."""
    f = CASES[case]
    n = (cached_inputs(dtype_name).size // 64) * 64
    x = cached_inputs(dtype_name)[:n].reshape(64, -1)
    for order in range(3):
        d = derivative(f, order)
        want = jitted_on_inputs(case, dtype_name, order)[:n].reshape(64, -1)
        assert_same_bits(jax.jit(jax.vmap(d))(x), want, x, f"{case} order {order} jit(vmap)")
        if order == 0:
            assert_same_bits(jax.vmap(d)(x), want, x, f"{case} vmap, plain call")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["elu", "celu"])
def test_vmap_over_alpha_matches_one_alpha_at_a_time(name):
    """vmap over a vector of alphas == a loop of calls with each alpha (traced), f, f', f'' and d/dalpha."""
    f = getattr(jelu, name)
    x = jnp.asarray(bit_check_sample()[::16])
    alphas = jnp.asarray([0.3, 0.7, 1.7, 2.0, 13.7], jnp.float32)
    for order in range(3):
        one = jax.jit(lambda a, o=order: derivative(lambda t: f(t, a), o)(x))
        batched = jax.jit(jax.vmap(one))(alphas)
        for k in range(alphas.size):
            assert_same_bits(batched[k], one(alphas[k]), x, f"{name} alpha={float(alphas[k])} order {order}")
    da = jax.jit(lambda a: jax.jvp(lambda b: f(x, b), (a,), (jnp.ones_like(a),))[1])
    batched = jax.jit(jax.vmap(da))(alphas)
    for k in range(alphas.size):
        assert_same_bits(batched[k], da(alphas[k]), x, f"{name} d/dalpha alpha={float(alphas[k])}")


# --------------------------------------------------------------------------
# x known at compile time


def _not_subnormal(*arrays) -> np.ndarray:
    """Where no array holds a subnormal: XLA's compile-time evaluation keeps them, its CPU code flushes them."""
    keep = True
    for a in arrays:
        a = np.asarray(a)
        tiny = float(ml_dtypes.finfo(a.dtype).tiny)
        keep = keep & ~((np.abs(a.astype(np.float64)) < tiny) & (a != 0))
    return keep


CONSTANT_CASES = {**CASES, "elu(alpha=traced 1.7)": lambda x: jelu.elu(x, jnp.float32(1.7)),
                  "elu_plus_one": jelu.elu_plus_one}


@pytest.mark.parametrize("case,dtype_name", [
    pytest.param(c, d, marks=() if (c, d) in {("elu", "float32"), ("celu(alpha=0.3)", "float32")}
                 else pytest.mark.slow, id=f"{c}-{d}")
    for d in DTYPES for c in CONSTANT_CASES])
def test_x_known_at_compile_time_gives_the_same_bits(case, dtype_name):
    """jax.jit of a function of a constant x (captured, so XLA may evaluate the kernel
    itself at compile time) == the jitted function of x passed as an argument: value
    and derivative. XLA's simplifier would otherwise reassociate the kernel's sums of
    constants (elu(-4.44e-18) came out 0)."""
    f = CONSTANT_CASES[case]
    x = inputs(dtype_name)[::16]  # 2^14 points: a constant of the compiled program
    x = np.concatenate([x, np.asarray([-4.44e-18, -0.15195], x.dtype)])
    ones = np.ones_like(x)
    want = jax.jit(lambda v: jax.jvp(f, (v,), (jnp.asarray(ones),)))(jnp.asarray(x))
    got = jax.jit(lambda: jax.jvp(f, (jnp.asarray(x),), (jnp.asarray(ones),)))()
    for g, w, label in zip(got, want, ("value", "derivative")):
        keep = _not_subnormal(x, g, w)
        g, w = np.asarray(g)[keep], np.asarray(w)[keep]
        diff = bits(g) != bits(w)
        assert not diff.any(), (case, label, x[keep][diff][:5], g[diff][:5], w[diff][:5])
