"""Measurement tools for jelu: accuracy, error budget, speed, memory and op counts.

This folder has one role: to measure jelu and write down what it measured.
Each module is a script, run from the repository root as::

    python -m benchmarks.<name> [--help]

and writes its report to ``benchmarks/results/<name>[-<tag>]-<kind>.md`` (and
``.json`` where there are figures to read back), ``<kind>`` being the machine
it measured (``jax.default_backend()``: cpu, gpu or tpu); ``--out DIR`` writes
to another folder. The scripts:

* ``accuracy``: ULP errors of jelu and jax.nn against correctly rounded
  references, every 16-bit input and a dense float32 sample.
* ``sweep``: every (or every Nth) float32 bit pattern against the references.
* ``error_budget``: the derived (not measured) error bound of each kernel path.
* ``prove16``: the 16-bit kernel evaluated with every multiply-add fused or
  not, on every bfloat16 and float16 input, against the correctly rounded
  references: the proof of the 16-bit claims.
* ``fit_poly``: the kernel's polynomial for expm1 and its rigorous error bound.
* ``f64_route``: what correct rounding in float32 through float64 would cost.
* ``run``: speed and memory against jax.nn (and PyTorch when installed), and
  the train step of ``examples/mlp.py`` in float32 and bfloat16.
* ``overhead``: un-jitted call time and trace + compile time against jax.nn.
* ``opcount``: per-element ops in XLA's optimized HLO, and the op budget.
* ``dropout``: alpha dropout's time against inverted dropout.
* ``device_check``: accuracy, the CPU's bits, speed and memory on whatever
  ``jax.devices()[0]`` is, in one command.

``_common`` holds what they share: timing, the command-line parser, atomic
writes, the machine description and the output paths; ``_report`` the pieces
of the markdown reports. The other modules whose names start with ``_`` are
parts of one script: ``_run_elementwise``, ``_run_trainer``, ``_run_learnable`` and ``_pinning``
of ``run``, ``_device_check_report`` of ``device_check``, ``_error_rules`` and
``_error_paths`` of ``error_budget``. The references come from
:mod:`jelu.testing`; nothing here imports the tests.
"""
