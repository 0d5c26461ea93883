"""Find the notebooks of a workspace and read their saved outputs.

Notebooks are only read, never executed or written. The reader parses the JSON
itself (orjson) and walks the cells tolerantly instead of validating the whole
schema: real notebooks are often slightly invalid, and schema problems become
warnings on the notebook rather than reasons to skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import orjson

# Folders that never hold a project's own notebooks.
SKIPPED_FOLDERS = frozenset(
    {
        ".ipynb_checkpoints",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "env",
        ".mypy_cache",
        ".pytest_cache",
    }
)
# Output types whose text is read; images and other binary types are skipped by key.
TEXT_MIME_TYPES = ("text/plain", "text/html", "text/markdown")

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+)$", re.MULTILINE)
_CONFLICT_MARKER = re.compile(rb"^(?:<{7}|={7}|>{7})(?: |\r?$)", re.MULTILINE)

# nbformat warns through ``warnings`` when it upgrades an invalid nbformat 3 file;
# the reader reports those problems itself.
warnings.filterwarnings("ignore", message="Notebook JSON is invalid", module="nbformat")


class NotebookError(Exception):
    """A notebook that cannot be read; the message is the reason shown to the user."""


@dataclass
class OutputText:
    """The readable text of one output of one cell."""

    cell_index: int
    cell_id: str | None
    output_index: int
    kind: str  # "stream", "text/plain", "text/html", "text/markdown" or "error"
    text: str  # ANSI codes removed; for HTML, the tables rendered as tab-separated rows
    execution_count: int | None = None
    tables: list[list[list[str]]] = field(default_factory=list)  # HTML tables: rows of cells
    heading: str = ""  # the last Markdown heading above the cell, for context


@dataclass
class NotebookDoc:
    """The outputs of one notebook, normalised across nbformat versions."""

    path: str
    outputs: list[OutputText]
    warnings: list[str]
    content_hash: str
    cell_count: int = 0


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def join_text(value: object) -> str:
    """Join an nbformat multiline string, which is a string or a list of strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return ""


def clean_text(value: object) -> str:
    """Join, drop ANSI codes, and keep what a terminal shows after carriage returns."""
    text = strip_ansi(join_text(value))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    return text


# --- discovery -----------------------------------------------------------------


@dataclass
class Discovery:
    notebooks: list[str]  # workspace-relative paths with forward slashes, sorted
    skipped: list[tuple[str, str]]  # (path, reason)


def _is_virtualenv(path: str) -> bool:
    return os.path.exists(os.path.join(path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(path, "conda-meta")
    )


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def discover_notebooks(workspace: Path, allow_hidden: bool = False) -> Discovery:
    """List every notebook under ``workspace`` that belongs to the project.

    Skips checkpoints, virtual environments, ``node_modules``, hidden folders
    (unless ``allow_hidden``), and symlinks whose target leaves the workspace.
    """
    root = os.path.realpath(workspace)
    found: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen_dirs: set[str] = set()

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if real_dir in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(real_dir)
        relative_dir = os.path.relpath(dirpath, root)

        kept = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            relative = os.path.normpath(os.path.join(relative_dir, name)).replace(os.sep, "/")
            if name in SKIPPED_FOLDERS or (name.startswith(".") and not allow_hidden):
                continue
            if not _inside(os.path.realpath(full), root):
                skipped.append((relative + "/", "outside workspace (symlink)"))
                continue
            if _is_virtualenv(full):
                continue
            kept.append(name)
        dirnames[:] = kept

        for name in sorted(filenames):
            if not name.endswith(".ipynb") or (name.startswith(".") and not allow_hidden):
                continue
            full = os.path.join(dirpath, name)
            relative = os.path.normpath(os.path.join(relative_dir, name)).replace(os.sep, "/")
            if not _inside(os.path.realpath(full), root):
                skipped.append((relative, "outside workspace (symlink)"))
                continue
            found.append(relative)

    return Discovery(sorted(found), skipped)


# --- parsing -------------------------------------------------------------------


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def diagnose_unreadable(data: bytes) -> str:
    """Explain why ``data`` is not a readable notebook, in words a person can act on."""
    if not data.strip():
        return "empty file"

    markers = [m.start() for m in _CONFLICT_MARKER.finditer(data)]
    if markers:
        first, last = _line_of(data, markers[0]), _line_of(data, markers[-1])
        return f"unresolved git merge conflict (lines {first}\u2013{last})"

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start]
        return f"not UTF-8 (byte 0x{bad:02X} at offset {error.start})"

    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            return f"extra data after JSON at line {error.lineno}"
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string"):
            return f"JSON ends early at byte {len(data)}"
        return f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
    return "invalid JSON"


def load_json(data: bytes) -> object:
    """Parse notebook bytes as UTF-8 JSON (a BOM is accepted); raise NotebookError."""
    view = memoryview(data)
    if data.startswith(b"\xef\xbb\xbf"):
        view = view[3:]
    try:
        return orjson.loads(view)
    except orjson.JSONDecodeError:
        raise NotebookError(diagnose_unreadable(data)) from None


def _upgrade_v3(raw: dict) -> dict:
    import nbformat

    node = nbformat.from_dict(raw)
    return nbformat.convert(node, 4)


def read_notebook(path: Path, relative: str) -> NotebookDoc:
    """Read one notebook's outputs; raise NotebookError with the reason when it cannot."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NotebookError(f"cannot read file: {error.strerror}") from None
    if not data.strip():
        raise NotebookError("empty file")

    raw = load_json(data)
    del data
    return parse_notebook(raw, relative)


def parse_notebook(raw: object, relative: str) -> NotebookDoc:
    """Normalise a parsed notebook document into its output texts."""
    if not isinstance(raw, dict):
        raise NotebookError(f"not a notebook: the top-level JSON value is a {type(raw).__name__}")
    version = raw.get("nbformat")
    if not isinstance(version, int):
        raise NotebookError("not a notebook: no nbformat version")

    warnings_found: list[str] = []
    converted = False
    if version == 3:
        try:
            raw = _upgrade_v3(raw)
        except Exception as error:  # noqa: BLE001 (nbformat raises several types on malformed v3 files)
            raise NotebookError(f"nbformat 3 notebook could not be converted: {error}") from None
        warnings_found.append("nbformat 3 (converted for reading)")
        converted = True
    elif version != 4:
        raise NotebookError(f"unsupported notebook format version {version}")

    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("not a notebook: no list of cells")
    minor = raw.get("nbformat_minor") if not converted else 5
    minor = minor if isinstance(minor, int) else 0

    cell_ids = _unique_cell_ids(cells, minor, converted, warnings_found)
    outputs: list[OutputText] = []
    heading = ""
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            warnings_found.append(f"cell {index}: not a JSON object, skipped")
            continue
        if cell.get("cell_type") == "markdown":
            headings = _HEADING.findall(join_text(cell.get("source")))
            heading = headings[-1].strip() if headings else heading
        for output in _cell_outputs(cell, index, cell_ids.get(index), warnings_found):
            output.heading = heading
            outputs.append(output)

    digest = hashlib.sha256()
    for output in outputs:
        digest.update(f"{output.cell_index}:{output.output_index}:{output.kind}\0".encode())
        digest.update(output.text.encode("utf-8", "surrogatepass"))
    return NotebookDoc(relative, outputs, warnings_found, digest.hexdigest(), len(cells))


def _unique_cell_ids(
    cells: list, minor: int, converted: bool, warnings_found: list[str]
) -> dict[int, str]:
    """Map cell index to cell id, leaving out ids that more than one cell uses."""
    by_id: dict[str, list[int]] = {}
    missing = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and cell_id and not converted:
            by_id.setdefault(cell_id, []).append(index)
        else:
            missing.append(index)

    if by_id and minor < 5:
        warnings_found.append(
            f"cell ids are not part of nbformat 4.{minor}; they are used for reference only"
        )
    if missing and minor >= 5 and not converted:
        listed = ", ".join(str(i) for i in missing[:10])
        warnings_found.append(f"cells without an id (required since nbformat 4.5): {listed}")

    unique = {}
    for cell_id, indices in by_id.items():
        if len(indices) == 1:
            unique[indices[0]] = cell_id
        else:
            listed = ", ".join(str(i) for i in indices)
            warnings_found.append(
                f"cell id '{cell_id}' is used by cells {listed}; cells are referenced by index"
            )
    return unique


def _cell_outputs(
    cell: dict, index: int, cell_id: str | None, warnings_found: list[str]
) -> list[OutputText]:
    cell_type = cell.get("cell_type")
    raw_outputs = cell.get("outputs")
    if cell_type != "code":
        if raw_outputs:
            warnings_found.append(f"cell {index}: {cell_type} cell has outputs, ignored")
        return []
    if raw_outputs is None:
        warnings_found.append(f"cell {index}: code cell has no outputs field")
        return []
    if not isinstance(raw_outputs, list):
        warnings_found.append(f"cell {index}: outputs is not a list, ignored")
        return []

    execution_count = cell.get("execution_count")
    if not isinstance(execution_count, int):
        execution_count = None

    texts: list[OutputText] = []
    for output_index, output in enumerate(raw_outputs):
        if not isinstance(output, dict):
            warnings_found.append(f"cell {index} output {output_index}: not a JSON object, skipped")
            continue
        output_type = output.get("output_type")

        def add(
            kind: str, text: str, tables: list | None = None, position: int = output_index
        ) -> None:
            texts.append(
                OutputText(index, cell_id, position, kind, text, execution_count, tables or [])
            )

        if output_type == "stream":
            add("stream", clean_text(output.get("text")))
        elif output_type in ("execute_result", "display_data"):
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            for mime in TEXT_MIME_TYPES:
                if mime not in data:
                    continue
                if mime == "text/html":
                    tables = parse_html_tables(join_text(data[mime]))
                    if tables:
                        rendered = "\n".join("\t".join(row) for table in tables for row in table)
                        add(mime, rendered, tables)
                else:
                    add(mime, clean_text(data[mime]))
        elif output_type == "error":
            ename = output.get("ename") or "an error"
            add("error", f"cell raised {ename}: {strip_ansi(str(output.get('evalue') or ''))}")
        else:
            warnings_found.append(
                f"cell {index} output {output_index}: unknown output type {output_type!r}"
            )
    return texts


# --- HTML tables ---------------------------------------------------------------


class _TableParser(HTMLParser):
    """Collect the text of every table cell, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._stack: list[list[list[str]]] = []  # nested tables
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack:
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._stack:
            self._stack[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._stack:
            table = [row for row in self._stack.pop() if row]
            if table:
                self.tables.append(table)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_html_tables(html: str) -> list[list[list[str]]]:
    """Parse every ``<table>`` in ``html`` into rows of cell texts."""
    if "<table" not in html.lower():
        return []
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    return parser.tables
