import type { IDocumentManager } from '@jupyterlab/docmanager';
import type { IDocumentWidget } from '@jupyterlab/docregistry';
import type { FileEditor } from '@jupyterlab/fileeditor';
import type { Notebook } from '@jupyterlab/notebook';
import type { Widget } from '@lumino/widgets';

/** CSS class put on a notebook cell opened from the panel. */
export const HIGHLIGHT_CLASS = 'jp-CardCheck-highlight';

/** How long the highlight stays on the cell, in milliseconds. */
export const HIGHLIGHT_DURATION = 4000;

/** Minimal shell interface: activates a widget by id. */
export interface IShellActivator {
  activateById(id: string): void;
}

/**
 * Returns the index of the cell with `cellId`, or `cellIndex` when no cell
 * has that id; -1 when the index is out of range too.
 */
export function findCellIndex(
  notebook: Notebook,
  cellIndex: number,
  cellId?: string | null
): number {
  const cells = notebook.widgets;
  if (cellId) {
    const byId = cells.findIndex(cell => cell.model.id === cellId);
    if (byId !== -1) {
      return byId;
    }
  }
  if (Number.isInteger(cellIndex) && cellIndex >= 0 && cellIndex < cells.length) {
    return cellIndex;
  }
  return -1;
}

/**
 * Activates the cell at `index`, scrolls it into view and adds
 * {@link HIGHLIGHT_CLASS} to it for {@link HIGHLIGHT_DURATION} ms.
 */
export async function highlightCell(
  notebook: Notebook,
  index: number,
  duration = HIGHLIGHT_DURATION
): Promise<void> {
  const cell = notebook.widgets[index];
  if (!cell) {
    return;
  }
  notebook.mode = 'command';
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  await notebook.scrollToCell(cell, 'center');
  cell.addClass(HIGHLIGHT_CLASS);
  window.setTimeout(() => {
    if (!cell.isDisposed) {
      cell.removeClass(HIGHLIGHT_CLASS);
    }
  }, duration);
}

/**
 * Opens (or reveals) a notebook, scrolls to a cell and highlights it.
 *
 * @param path - notebook path relative to the server root.
 * @returns the notebook widget, or null when `path` did not open as a notebook.
 */
export async function openNotebookAtCell(
  docManager: IDocumentManager,
  shell: IShellActivator,
  path: string,
  cellIndex: number,
  cellId?: string | null
): Promise<Widget | null> {
  const widget = docManager.openOrReveal(path) as
    | IDocumentWidget<Notebook>
    | undefined;
  if (!widget) {
    return null;
  }
  await widget.context.ready;
  await widget.revealed;
  shell.activateById(widget.id);
  const notebook = widget.content;
  if (!notebook || !Array.isArray(notebook.widgets)) {
    return null;
  }
  const index = findCellIndex(notebook, cellIndex, cellId);
  if (index !== -1) {
    await highlightCell(notebook, index);
  }
  return widget;
}

/**
 * Opens (or reveals) the model card in the text editor with the cursor at
 * the start of `line` (1-based).
 */
export async function openCardAtLine(
  docManager: IDocumentManager,
  shell: IShellActivator,
  path: string,
  line: number
): Promise<Widget | null> {
  const widget = docManager.openOrReveal(path, 'Editor') as
    | IDocumentWidget<FileEditor>
    | undefined;
  if (!widget) {
    return null;
  }
  await widget.context.ready;
  await widget.revealed;
  shell.activateById(widget.id);
  const editor = widget.content?.editor;
  if (editor) {
    const lineCount = editor.lineCount;
    const target = Math.min(Math.max(line - 1, 0), Math.max(lineCount - 1, 0));
    const position = { line: target, column: 0 };
    editor.setCursorPosition(position);
    editor.revealPosition(position);
    editor.focus();
  }
  return widget;
}
