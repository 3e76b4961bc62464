"""Transcript files: commands with their recorded output, replayed against InteractionEnv.

Format: blocks separated by blank lines. A block is one command line, a line `----`, and the
expected output (which never contains a blank line). Lines starting with `#` before a block are
comments and are kept on rewrite.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .interaction import InteractionEnv


@dataclass
class Block:
    comments: list[str]
    command: str
    expected: str
    line_no: int


def parse(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        comments: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith("#")):
            if lines[i].startswith("#"):
                comments.append(lines[i])
            i += 1
        if i >= len(lines):
            break
        command, line_no = lines[i], i + 1
        i += 1
        if i >= len(lines) or lines[i] != "----":
            raise ValueError(f"line {line_no}: expected '----' after the command")
        i += 1
        out: list[str] = []
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        blocks.append(Block(comments, command, "\n".join(out), line_no))
    return blocks


def render(blocks: list[Block], outputs: list[str]) -> str:
    parts = []
    for block, output in zip(blocks, outputs):
        text = "\n".join(block.comments + [block.command, "----"])
        if output:
            text += "\n" + output
        parts.append(text)
    return "\n\n".join(parts) + "\n"


def run_file(path: Path, rewrite: bool = False) -> list[tuple[Block, str]]:
    """Replay a transcript; return the blocks whose output differs (after rewriting, none)."""
    blocks = parse(path.read_text())
    env = InteractionEnv()
    outputs = [env.run(b.command) for b in blocks]
    if rewrite:
        path.write_text(render(blocks, outputs))
        return []
    return [(b, out) for b, out in zip(blocks, outputs) if out != b.expected]
