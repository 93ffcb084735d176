#!/usr/bin/env python3
"""Build jelu's wheel, install it alone in a fresh virtualenv and run the README's Quickstart.

    python3 .ci/wheel_check.py [--keep]

1. ``pip wheel --no-deps`` builds the wheel from this checkout; the build must
   print no deprecation warning about the license metadata, and the wheel must
   hold ``jelu/py.typed``, the LICENSE file and ``License-Expression: Apache-2.0``.
2. A fresh virtualenv (``python3 -m venv``) gets the wheel and its dependencies
   from PyPI: no editable install, no source tree on the path.
3. From an empty temporary directory, ``python -I`` (no current directory, no
   PYTHONPATH, no user site) runs the first ```python block under
   "## Quickstart" in README.md; its output must equal the ```text block that
   follows it, line by line (trailing spaces ignored), and jelu must have been
   imported from the virtualenv. A mismatch prints a unified diff.

Every command runs with ``-I`` in the temporary directory, so that no file in
the caller's directory shadows a module. Exits 0 when every step passes, 1 otherwise. ``--keep`` leaves the temporary
directory (wheel, virtualenv) in place and prints its path.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LICENSE_WARNING = re.compile(r"deprecat.*licen[cs]e|licen[cs]e.*deprecat", re.I)


def quickstart(readme: str) -> tuple[str, str]:
    """The first ```python block under "## Quickstart" and the ```text block after it."""
    section = re.search(r"^## Quickstart\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    if section is None:
        raise SystemExit('wheel_check: README.md has no "## Quickstart" section')
    code = re.search(r"^```python\n(.*?)^```", section.group(1), flags=re.S | re.M)
    if code is None:
        raise SystemExit("wheel_check: no ```python block under ## Quickstart")
    shown = re.search(r"^```text\n(.*?)^```", section.group(1)[code.end():], flags=re.S | re.M)
    if shown is None:
        raise SystemExit("wheel_check: no ```text block after the Quickstart's python block")
    return code.group(1), shown.group(1)


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], text=True, capture_output=True, check=False, **kwargs)


def fail(what: str, proc: subprocess.CompletedProcess | None = None) -> None:
    if proc is not None:
        sys.stdout.write(proc.stdout[-6000:])
        sys.stderr.write(proc.stderr[-6000:])
    raise SystemExit(f"wheel_check: FAILED: {what}")


def build(out: Path) -> Path:
    """The wheel built from ROOT into ``out``, checked for the license metadata."""
    proc = run([sys.executable, "-I", "-m", "pip", "wheel", "--no-deps", "-v", "--wheel-dir", out, ROOT], cwd=out.parent)
    if proc.returncode:
        fail("pip wheel", proc)
    warned = [line for line in (proc.stdout + proc.stderr).splitlines() if LICENSE_WARNING.search(line)]
    if warned:
        fail("the build warns about the license metadata:\n" + "\n".join(warned))
    (wheel,) = out.glob("jelu-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = z.read(meta).decode()
    for want in ("jelu/py.typed", "jelu/__init__.py"):
        if want not in names:
            fail(f"{wheel.name} lacks {want}")
    if not any(re.search(r"\.dist-info/licenses/LICENSE$", n) for n in names):
        fail(f"{wheel.name} lacks its LICENSE file")
    if "License-Expression: Apache-2.0" not in metadata:
        fail(f"{wheel.name}'s METADATA has no 'License-Expression: Apache-2.0'")
    if any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names):
        fail(f"{wheel.name} ships more than the jelu package")
    print(f"built {wheel.name}: {len(names)} files, License-Expression: Apache-2.0, no license warning")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv at ``venv`` with the wheel installed; its python."""
    proc = run([sys.executable, "-I", "-m", "venv", venv], cwd=venv.parent)
    if proc.returncode:
        fail("python -m venv", proc)
    python = venv / "bin" / "python"
    proc = run([python, "-I", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel], cwd=venv.parent)
    if proc.returncode:
        fail("pip install of the wheel", proc)
    return python


def compare(python: Path, venv: Path, code: str, shown: str, workdir: Path) -> None:
    """Run the Quickstart with ``python -I`` in ``workdir``; its output must be ``shown``."""
    script = workdir / "quickstart.py"
    script.write_text(code)
    where = run([python, "-I", "-c", "import jelu; print(jelu.__file__)"], cwd=workdir)
    if where.returncode:
        fail("import jelu from the installed wheel", where)
    location = Path(where.stdout.strip()).resolve()
    if venv.resolve() not in location.parents:
        fail(f"jelu was imported from {location}, not from the virtualenv {venv}")
    print(f"jelu imported from {location}")
    proc = run([python, "-I", script], cwd=workdir, timeout=600)
    if proc.returncode:
        fail("the Quickstart raised", proc)
    got = [line.rstrip() for line in proc.stdout.rstrip("\n").splitlines()]
    want = [line.rstrip() for line in shown.rstrip("\n").splitlines()]
    print("Quickstart output:\n" + "\n".join(got))
    if got != want:
        diff = difflib.unified_diff(want, got, "README.md (```text)", "the installed wheel's output", lineterm="")
        print("\n".join(diff))
        fail("the Quickstart's output differs from the README's")
    print(f"wheel_check: OK: the Quickstart's {len(got)} lines match README.md")


def main(argv: list[str]) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # in order with the errors on stderr
    keep = "--keep" in argv
    code, shown = quickstart((ROOT / "README.md").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="jelu-wheel-check-"))
    try:
        wheel = build(tmp / "dist")
        venv = tmp / "venv"
        python = install(wheel, venv)
        workdir = tmp / "run"
        workdir.mkdir()
        compare(python, venv, code, shown, workdir)
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
