"""Notebook reader: nbformat versions, output types, text normalisation and discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import (
    V3_NOTEBOOK,
    code_cell,
    display_data,
    error_output,
    execute_result,
    markdown_cell,
    notebook,
    stream,
    write_json,
    write_stream_notebook,
)

from cardcheck_lab.notebooks import (
    NotebookError,
    discover_notebooks,
    parse_html_tables,
    parse_notebook,
    read_notebook,
    strip_ansi,
)

PANDAS_HTML = """\
<div><table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;"><th></th><th>roc_auc</th><th>accuracy</th></tr>
  </thead>
  <tbody>
    <tr><th>train</th><td>0.8457</td><td>0.8194</td></tr>
    <tr><th>test</th><td>0.7712</td><td>0.7817</td></tr>
  </tbody>
</table></div>"""


def texts_of(doc) -> list[str]:
    return [output.text for output in doc.outputs]


# --- multiline strings ---------------------------------------------------------


def test_stream_text_as_string():
    doc = parse_notebook(notebook(code_cell(stream("AUC: 0.81\nKS: 0.42\n"))), "nb.ipynb")
    assert texts_of(doc) == ["AUC: 0.81\nKS: 0.42\n"]


def test_stream_text_as_list():
    doc = parse_notebook(notebook(code_cell(stream(["AUC: 0.81\n", "KS: 0.42\n"]))), "nb.ipynb")
    assert texts_of(doc) == ["AUC: 0.81\nKS: 0.42\n"]


def test_list_joined_without_separator():
    result = execute_result({"text/plain": ["Gini: 0.6", "2\n"]})
    doc = parse_notebook(notebook(code_cell(result)), "nb.ipynb")
    assert texts_of(doc) == ["Gini: 0.62\n"]


def test_markdown_source_as_list_sets_heading():
    cells = [markdown_cell(["# Report\n", "## Test set\n"]), code_cell(stream("AUC: 0.81\n"))]
    doc = parse_notebook(notebook(*cells), "nb.ipynb")
    assert doc.outputs[0].heading == "Test set"


# --- output types --------------------------------------------------------------


def test_execute_result_plain_text():
    doc = parse_notebook(notebook(code_cell(execute_result({"text/plain": "0.8946"}))), "nb.ipynb")
    assert [(o.kind, o.text) for o in doc.outputs] == [("text/plain", "0.8946")]


def test_display_data_plain_text():
    doc = parse_notebook(
        notebook(code_cell(display_data({"text/plain": "Accuracy: 0.91"}))), "nb.ipynb"
    )
    assert [(o.kind, o.text) for o in doc.outputs] == [("text/plain", "Accuracy: 0.91")]


def test_html_table_rows_and_cells():
    result = execute_result({"text/html": PANDAS_HTML})
    doc = parse_notebook(notebook(code_cell(result)), "nb.ipynb")
    assert doc.outputs[0].kind == "text/html"
    assert doc.outputs[0].tables == [
        [["", "roc_auc", "accuracy"], ["train", "0.8457", "0.8194"], ["test", "0.7712", "0.7817"]]
    ]


def test_html_and_plain_both_read():
    result = execute_result({"text/html": PANDAS_HTML, "text/plain": "frame"})
    doc = parse_notebook(notebook(code_cell(result)), "nb.ipynb")
    assert sorted(o.kind for o in doc.outputs) == ["text/html", "text/plain"]


def test_html_without_table_skipped():
    result = execute_result({"text/html": "<b>Accuracy: 0.91</b>"})
    doc = parse_notebook(notebook(code_cell(result)), "nb.ipynb")
    assert doc.outputs == []


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg", "image/svg+xml", "application/pdf"])
def test_binary_mime_types_skipped(mime):
    data = {
        mime: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    }
    doc = parse_notebook(notebook(code_cell(display_data(data))), "nb.ipynb")
    assert doc.outputs == []


def test_image_skipped_text_kept():
    data = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    doc = parse_notebook(notebook(code_cell(display_data(data))), "nb.ipynb")
    assert texts_of(doc) == ["<Figure size 640x480 with 1 Axes>"]


def test_error_output_summarised():
    error = error_output(
        "ValueError", "bad shape", ["\x1b[0;31mValueError\x1b[0m: bad shape  AUC 0.99"]
    )
    doc = parse_notebook(notebook(code_cell(error)), "nb.ipynb")
    assert [(o.kind, o.text) for o in doc.outputs] == [
        ("error", "cell raised ValueError: bad shape")
    ]


def test_unknown_output_type_warned():
    doc = parse_notebook(notebook(code_cell({"output_type": "widget"})), "nb.ipynb")
    assert doc.outputs == []
    assert any("unknown output type" in warning for warning in doc.warnings)


# --- text normalisation --------------------------------------------------------


def test_ansi_colours_removed():
    text = "\x1b[1mTest AUC:\x1b[0m \x1b[32m0.812\x1b[0m\n\x1b[38;5;241mKS\x1b[39m = \x1b[1m0.44\x1b[0m\n"
    doc = parse_notebook(notebook(code_cell(stream(text))), "nb.ipynb")
    assert texts_of(doc) == ["Test AUC: 0.812\nKS = 0.44\n"]


def test_ansi_hyperlink_removed():
    assert strip_ansi("\x1b]8;;http://127.0.0.1/\x07report\x1b]8;;\x07 AUC 0.8") == "report AUC 0.8"


def test_carriage_return_keeps_last_frame():
    doc = parse_notebook(
        notebook(code_cell(stream("epoch 1 loss 0.9\repoch 2 loss 0.4\n"))), "nb.ipynb"
    )
    assert texts_of(doc) == ["epoch 2 loss 0.4\n"]


# --- provenance ----------------------------------------------------------------


def test_cell_index_counts_all_cells():
    cells = [
        markdown_cell("# Title"),
        code_cell(),
        code_cell(stream("a"), stream("b"), cell_id="scores"),
    ]
    doc = parse_notebook(notebook(*cells), "nb.ipynb")
    assert [(o.cell_index, o.output_index, o.cell_id) for o in doc.outputs] == [
        (2, 0, "scores"),
        (2, 1, "scores"),
    ]


def test_execution_count_kept():
    doc = parse_notebook(notebook(code_cell(stream("a"), execution_count=17)), "nb.ipynb")
    assert doc.outputs[0].execution_count == 17


# --- nbformat versions and schema drift ----------------------------------------


def test_nbformat3_converted():
    doc = parse_notebook(V3_NOTEBOOK, "legacy.ipynb")
    assert texts_of(doc) == ["Test AUC: 0.77\n", "'KS = 0.35'"]


def test_nbformat3_cell_positions():
    doc = parse_notebook(V3_NOTEBOOK, "legacy.ipynb")
    assert [(o.cell_index, o.execution_count) for o in doc.outputs] == [(0, 4), (1, 5)]


def test_nbformat3_warning():
    doc = parse_notebook(V3_NOTEBOOK, "legacy.ipynb")
    assert "nbformat 3 (converted for reading)" in doc.warnings


@pytest.mark.parametrize("version", [1, 2, 5])
def test_unsupported_version_rejected(version):
    with pytest.raises(NotebookError, match=f"unsupported notebook format version {version}"):
        parse_notebook({"nbformat": version, "cells": []}, "old.ipynb")


def test_missing_nbformat_rejected():
    with pytest.raises(NotebookError, match="no nbformat version"):
        parse_notebook({"cells": []}, "nb.ipynb")


def test_top_level_list_rejected():
    with pytest.raises(NotebookError, match="top-level JSON value is a list"):
        parse_notebook([], "nb.ipynb")


def test_code_cell_without_outputs_warned():
    cell = {"cell_type": "code", "metadata": {}, "source": "fit()"}
    doc = parse_notebook(notebook(cell), "nb.ipynb")
    assert any("code cell has no outputs field" in warning for warning in doc.warnings)


def test_non_object_cell_skipped():
    raw = notebook(code_cell(stream("AUC: 0.8\n")))
    raw["cells"].insert(0, "not a cell")
    doc = parse_notebook(raw, "nb.ipynb")
    assert texts_of(doc) == ["AUC: 0.8\n"]
    assert doc.outputs[0].cell_index == 1


# --- reading files -------------------------------------------------------------


def test_read_accepts_byte_order_mark(tmp_path: Path):
    path = tmp_path / "bom.ipynb"
    write_stream_notebook(path, "AUC: 0.80\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert texts_of(read_notebook(path, "bom.ipynb")) == ["AUC: 0.80\n"]


def test_read_empty_file(tmp_path: Path):
    path = tmp_path / "empty.ipynb"
    path.write_bytes(b"")
    with pytest.raises(NotebookError, match="^empty file$"):
        read_notebook(path, "empty.ipynb")


def test_read_truncated_file(tmp_path: Path):
    path = tmp_path / "cut.ipynb"
    path.write_bytes(b'{"cells": [{"outputs": [{"text": ["AUC: 0.8')
    with pytest.raises(NotebookError, match=f"^JSON ends early at byte {path.stat().st_size}$"):
        read_notebook(path, "cut.ipynb")


def test_read_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.ipynb"
    write_json(path, notebook(code_cell(stream("Pr\u00e9cision: 0.71\n"))))
    data = path.read_text(encoding="utf-8").encode("latin-1")
    path.write_bytes(data)
    with pytest.raises(
        NotebookError, match=rf"^not UTF-8 \(byte 0xE9 at offset {data.index(0xE9)}\)$"
    ):
        read_notebook(path, "latin1.ipynb")


def test_read_missing_file(tmp_path: Path):
    with pytest.raises(NotebookError, match="cannot read file"):
        read_notebook(tmp_path / "gone.ipynb", "gone.ipynb")


# --- HTML tables ---------------------------------------------------------------


def test_html_entities_and_breaks():
    tables = parse_html_tables("<table><tr><th>F1&nbsp;score</th><td>0.5<br>3</td></tr></table>")
    assert tables == [[["F1 score", "0.5 3"]]]


def test_html_nested_tables_separate():
    html = "<table><tr><td>outer</td><td><table><tr><td>inner</td></tr></table></td></tr></table>"
    tables = parse_html_tables(html)
    assert [["inner"]] in tables
    assert len(tables) == 2


# --- discovery -----------------------------------------------------------------


def test_discovery_skips_non_project_folders(tmp_path: Path):
    root = tmp_path / "ws"
    for relative in [
        "a.ipynb",
        "sub/b.ipynb",
        ".ipynb_checkpoints/a-checkpoint.ipynb",
        "sub/.ipynb_checkpoints/b-checkpoint.ipynb",
        ".hidden/c.ipynb",
        ".secret.ipynb",
        "node_modules/pkg/d.ipynb",
        "myenv/lib/e.ipynb",
        "conda/lib/f.ipynb",
        "notes.txt",
    ]:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}", encoding="utf-8")
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (root / "conda" / "conda-meta").mkdir()

    assert discover_notebooks(root).notebooks == ["a.ipynb", "sub/b.ipynb"]


def test_discovery_allow_hidden(tmp_path: Path):
    write_stream_notebook(tmp_path / ".hidden" / "c.ipynb", "x")
    write_stream_notebook(tmp_path / ".ipynb_checkpoints" / "c-checkpoint.ipynb", "x")
    assert discover_notebooks(tmp_path, allow_hidden=True).notebooks == [".hidden/c.ipynb"]


def test_discovery_symlink_leaving_workspace(tmp_path: Path):
    root, outside = tmp_path / "ws", tmp_path / "outside_ws"
    write_stream_notebook(root / "own.ipynb", "x")
    write_stream_notebook(outside / "secret.ipynb", "AUC: 0.99\n")
    os.symlink(outside, root / "linked")
    os.symlink(outside / "secret.ipynb", root / "alias.ipynb")

    discovery = discover_notebooks(root)

    assert discovery.notebooks == ["own.ipynb"]
    assert sorted(discovery.skipped) == [
        ("alias.ipynb", "outside workspace (symlink)"),
        ("linked/", "outside workspace (symlink)"),
    ]


def test_discovery_symlink_inside_workspace_read_once(tmp_path: Path):
    write_stream_notebook(tmp_path / "real" / "nb.ipynb", "x")
    os.symlink(tmp_path / "real", tmp_path / "again")
    found = discover_notebooks(tmp_path).notebooks
    assert len(found) == 1
