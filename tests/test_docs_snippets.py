"""Every ```python block of README.md and docs/*.md runs, and the output it shows is the output it prints.

A file's blocks run in order in one namespace, like a doctest file. Markers, on the line before a fence:

- ``<!-- heavy: reason -->``: the block is slow; it runs with ``make test-heavy``, after the blocks before it.
- ``<!-- not-run: reason -->``: the block is not run (it ends the process, needs a server...); the reason is
  required.

A ```text block right after a python block is that block's expected standard output: the same words, and
numbers within ``NUMBER_TOLERANCE`` (two runs on different machines may differ in the last digits).
The docstrings' examples (``>>>``) run as doctests.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import veil

ROOT = Path(__file__).parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NUMBER_TOLERANCE = 0.02
_MARKER = re.compile(r"<!--\s*(heavy|not-run)\s*(?::\s*(.*?))?\s*-->")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")

# Files written by others that carry no markers yet: what their markers would say, keyed by a line of the
# block. test_marks_for_unmarked_files_are_not_stale fails once a listed line is gone.
MARKS_FOR_UNMARKED_FILES = {
    "deployment.md": {
        "model = NeuralNetClassifier(max_epochs=50": ("heavy", "trains the default network for 50 epochs"),
        'FHEModelDev("artifacts", model).save()': ("heavy", "saves the model the heavy block trains"),
        'model.dump("model.veil")': ("heavy", "dumps the model the heavy block trains"),
        "service = ServiceClient(": ("not-run", "needs `veil serve` listening on 127.0.0.1:8000"),
    },
}


@dataclass
class Block:
    file: Path
    line: int
    code: str
    mark: str | None = None  # "heavy", "not-run" or None
    reason: str = ""
    expected_output: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def _blocks(file: Path) -> list[Block]:
    """The file's fenced blocks: python ones with their marker and expected output."""
    lines = file.read_text().splitlines()
    blocks: list[Block] = []
    previous_line_marker = None
    index = 0
    while index < len(lines):
        fence = lines[index].strip()
        marker = _MARKER.fullmatch(fence)
        if marker:
            previous_line_marker = marker
            index += 1
            continue
        if fence.startswith("```"):
            language = fence[3:].strip()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            body = "\n".join(lines[index + 1 : end]) + "\n"
            if language == "python":
                block = Block(file, index + 1, body)
                if previous_line_marker:
                    block.mark, block.reason = (
                        previous_line_marker.group(1),
                        previous_line_marker.group(2) or "",
                    )
                blocks.append(block)
            elif language == "text" and blocks and _only_blank_between(lines, blocks[-1], index):
                blocks[-1].expected_output = body
            index = end
        previous_line_marker = None
        index += 1
    _apply_marks_for_unmarked_files(file, blocks)
    return blocks


def _only_blank_between(lines: list[str], block: Block, fence_index: int) -> bool:
    block_end = block.line + block.code.count("\n")  # index of the python block's closing fence
    return all(not line.strip() for line in lines[block_end + 1 : fence_index])


def _apply_marks_for_unmarked_files(file: Path, blocks: list[Block]) -> None:
    for key_line, (mark, reason) in MARKS_FOR_UNMARKED_FILES.get(file.name, {}).items():
        for block in blocks:
            if key_line in block.code and block.mark is None:
                block.mark, block.reason = mark, reason


def _same_output(printed: str, expected: str) -> bool:
    printed_words, expected_words = printed.split(), expected.split()
    if len(printed_words) != len(expected_words):
        return False
    for got, want in zip(printed_words, expected_words, strict=True):
        got_numbers, want_numbers = _NUMBER.findall(got), _NUMBER.findall(want)
        if _NUMBER.sub("#", got) != _NUMBER.sub("#", want) or len(got_numbers) != len(want_numbers):
            return False
        if any(
            abs(float(a) - float(b)) > NUMBER_TOLERANCE
            for a, b in zip(got_numbers, want_numbers, strict=True)
        ):
            return False
    return True


def _run(blocks: list[Block]) -> None:
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        if block.mark == "not-run":
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.code, block.where, "exec"), namespace)
        if block.expected_output is not None:
            assert _same_output(printed.getvalue(), block.expected_output), (
                f"{block.where} printed:\n{printed.getvalue()}\nthe docs show:\n{block.expected_output}"
            )


def _files_with(mark: str | None) -> list[Path]:
    return [f for f in DOC_FILES if any(b.mark == mark for b in _blocks(f))]


@pytest.mark.parametrize("file", DOC_FILES, ids=lambda f: f.name)
def test_light_blocks_run_and_print_what_the_docs_show(file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the docs write files (models, keys) in the working directory
    _run([b for b in _blocks(file) if b.mark is None])


@pytest.mark.heavy
@pytest.mark.parametrize("file", _files_with("heavy"), ids=lambda f: f.name)
def test_all_blocks_run_and_print_what_the_docs_show(file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(_blocks(file))


@pytest.mark.parametrize("file", DOC_FILES, ids=lambda f: f.name)
def test_every_skipped_block_says_why(file: Path):
    for block in _blocks(file):
        if block.mark is not None:
            assert block.reason.strip(), f"{block.where}: a {block.mark} block needs a reason"


def test_marks_for_unmarked_files_are_not_stale():
    for name, marks in MARKS_FOR_UNMARKED_FILES.items():
        text = next(f for f in DOC_FILES if f.name == name).read_text()
        for key_line in marks:
            assert key_line in text, f"{name} no longer has {key_line!r}: update MARKS_FOR_UNMARKED_FILES"


def test_output_comparison_tolerates_the_last_digits_only():
    assert _same_output("accuracy: 0.951\n", "accuracy: 0.958")
    assert not _same_output("accuracy: 0.851\n", "accuracy: 0.958")
    assert not _same_output("accuracy: 0.958 (simulated)\n", "accuracy: 0.958")


def _modules_with_examples() -> list[str]:
    source = Path(veil.__file__).parent
    return sorted(
        ".".join(("veil", *file.relative_to(source).with_suffix("").parts))
        for file in source.rglob("*.py")
        if ">>> " in file.read_text()
    )


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_run(module_name: str):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
