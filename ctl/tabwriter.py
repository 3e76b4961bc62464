"""Column alignment as Go's text/tabwriter does it with tabs for padding, which is how
etcdctl lays out its usage text (minwidth 0, tabwidth 8, padding 1, padchar '\\t').

Theory of operation: each line is split at tabs into cells; a cell ended by a tab belongs to
a column, the text after the last tab does not. A column block is a run of consecutive lines
that all have a cell in that column; its width is the widest cell plus the padding, rounded
up to a multiple of the tab width, and every cell in it is followed by as many tabs as it
takes to reach that width. Blocks are found column by column, left to right, inside the
blocks of the column before, so a line without a cell in column c ends the blocks of
columns c and up. Widths count characters, as Go counts runes.
"""
from __future__ import annotations

TAB_WIDTH = 8
PADDING = 1


def align(text: str) -> str:
    """`text` as it comes out of a Go tabwriter configured as etcdctl's."""
    trailing_newline = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if trailing_newline else text).split("\n")]
    out: list[str] = []
    _format(lines, 0, len(lines), [], out)
    return "\n".join(out) + ("\n" if trailing_newline else "")


def _format(lines, line0: int, line1: int, widths: list[int], out: list[str]) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, line0, this, widths, out)
        line0 = this
        width = 0
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + PADDING)
            this += 1
        _format(lines, line0, this, widths + [width], out)
        line0 = this
    _write(lines, line0, line1, widths, out)


def _write(lines, line0: int, line1: int, widths: list[int], out: list[str]) -> None:
    for cells in lines[line0:line1]:
        parts = []
        for j, cell in enumerate(cells):
            parts.append(cell)
            if j < len(widths):
                parts.append(_padding(len(cell), widths[j]))
        out.append("".join(parts))


def _padding(text_width: int, cell_width: int) -> str:
    cell_width = -(-cell_width // TAB_WIDTH) * TAB_WIDTH
    return "\t" * -(-(cell_width - text_width) // TAB_WIDTH)
