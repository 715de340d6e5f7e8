"""A Chow-Liu tree file is read only from inside the spec's folder, only if it is a regular
file of reasonable size, and its name is shown without terminal control characters."""

from __future__ import annotations

import os

import pytest

from pcdsl.diagnostics import CompileError, render
from pcdsl.driver import compile_file

SPEC = """\
model m {{
  data = image(height = 2, width = 2, values = 4)
  regions = chow_liu_tree(file = "{name}")
}}
"""


def _error(tmp_path, name: str) -> str:
    spec = tmp_path / "spec.pc"
    spec.write_text(SPEC.format(name=name))
    with pytest.raises(CompileError) as caught:
        compile_file(str(spec))
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 34)
    return render(diagnostic, {str(spec): spec.read_text()})


@pytest.mark.parametrize("name", ["/dev/stdin", "/dev/zero", "../tree.json", "a/../../tree.json"])
def test_paths_outside_the_spec_folder_are_refused(tmp_path, name):
    assert "inside the spec's folder" in _error(tmp_path, name)


def test_symbolic_links_out_of_the_folder_are_refused(tmp_path):
    (tmp_path / "leak.json").symlink_to("/etc/hostname")
    assert "inside the spec's folder" in _error(tmp_path, "leak.json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    assert "not a regular file" in _error(tmp_path, "pipe.json")


def test_control_characters_in_the_name_are_not_echoed(tmp_path):
    message = _error(tmp_path, "x\x1b.json")
    assert "\x1b" not in message
