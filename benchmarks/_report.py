"""What the markdown reports share: tables, the cells of figures, the versions line.

``benchmarks.run`` and ``benchmarks.device_check`` build their reports from
these pieces: :func:`table` gives a table's header and alignment rows,
:func:`row` one row, and the cell formatters write a missing figure (None)
as ``-``. :func:`document` joins the lines into the report's text.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

#: The markdown alignment row's cell for each alignment letter of :func:`table`.
ALIGNMENTS = {"l": "---", "r": "--:"}


def table(columns: Sequence[str], align: str) -> list[str]:
    """The header and alignment rows of a table; ``align`` has one letter per column, ``l``
    (left) or ``r`` (right), e.g. ``table(["fn", "ms"], "lr")`` -> ``["| fn | ms |", "|---|--:|"]``."""
    if len(align) != len(columns) or set(align) - set(ALIGNMENTS):
        raise ValueError(f"table: align {align!r} must be one of l, r per column ({len(columns)})")
    return [row(columns), "|" + "".join(f"{ALIGNMENTS[a]}|" for a in align)]


def row(cells: Sequence[Any]) -> str:
    """One table row: ``| a | b |``."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def document(lines: Sequence[str]) -> str:
    """The report's text: the lines joined, with a final newline."""
    return "\n".join(lines) + "\n"


def ms(seconds: float | None, digits: int = 2) -> str:
    """Milliseconds, e.g. ``1.23``; ``-`` for None."""
    return "-" if seconds is None else f"{seconds * 1e3:.{digits}f}"


def ratio(value: float | None, digits: int = 2) -> str:
    """A ratio, e.g. ``1.05x``; ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}x"


def percent(fraction: float | None) -> str:
    """A fraction as a whole percentage, e.g. ``87%``; ``-`` for None."""
    return "-" if fraction is None else f"{fraction:.0%}"


def mib(nbytes: int | None, spec: str = ".1f") -> str:
    """Bytes in MiB, formatted by ``spec``; ``-`` for None."""
    return "-" if nbytes is None else f"{nbytes / 2**20:{spec}}"


def kib(nbytes: int | None) -> str:
    """Bytes in whole KiB; ``-`` for None."""
    return "-" if nbytes is None else f"{nbytes / 2**10:.0f}"


def versions(found: Mapping[str, str | None], names: Sequence[str]) -> str:
    """``jax 0.4.30, jaxlib 0.4.30, ...`` for ``names`` (``absent`` where a version is None)."""
    return ", ".join(f"{name} {found[name] or 'absent'}" for name in names)


def targets(met: Mapping[str, bool]) -> str:
    """``Targets: name: met; other: not met``."""
    return "Targets: " + "; ".join(f"{name}: {'met' if ok else 'not met'}" for name, ok in met.items())
