"""Helpers shared by the trainer's modules and paper_checks.py: one-line errors and atomic writes.

Every script here reports bad input as one line on stderr and exits non-zero
without a traceback, and writes each output file atomically (a reader sees the
old file or the complete new one, never a mix).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NoReturn

#: Exit codes of the scripts in examples/.
EXIT_OK, EXIT_DIVERGED, EXIT_INPUT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: Prefix and suffix of the temporary files of :func:`atomic_write`.
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


class InputError(Exception):
    """Bad input from the user (arguments, data, checkpoint): one line, exit code 2."""


class EnvironmentFailure(Exception):
    """The machine failed us (disk full, no such device): one line, exit code 3."""


def one_line(e: BaseException | str) -> str:
    """The message of ``e`` on one line (its type name if it has no message)."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


def fail(prog: str, message: str, code: int) -> NoReturn:
    """Print ``prog: error: message`` as one line on stderr and exit with ``code``."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr, flush=True)
    raise SystemExit(code)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (exit code 2, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, message, EXIT_INPUT)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (written in decimal digits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` via a temporary file in the same directory and ``os.replace``.

    Readers see the old file or the complete new one; if ``write`` fails the old
    file is untouched and the temporary file removed. A full disk raises
    :class:`EnvironmentFailure` naming the space needed: the new file is
    written beside the old one, so both must fit at once.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            old = path.stat().st_size if path.exists() else 0
            need = max(written, old)
            raise EnvironmentFailure(
                f"no space left on the device writing {path}: free at least {_mib(need)} (the new "
                f"file is written beside the current one, {_mib(old)}, and replaces it only when "
                "complete); the files already written are intact"
            ) from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(data))


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_write` calls left in ``directory``."""
    removed = []
    for p in Path(directory).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed
