import type { JupyterFrontEnd } from '@jupyterlab/application';
import { PathExt } from '@jupyterlab/coreutils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import { FileDialog, IFileBrowserFactory } from '@jupyterlab/filebrowser';
import type { INotebookTracker } from '@jupyterlab/notebook';
import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';

import { detectCard, isMarkdownPath } from './cards';
import type { CardCheckModel, IJobOverrides } from './model';
import { openCardAtLine, openNotebookAtCell } from './navigation';
import type { IClaim, IEvidence } from './types';
import type { CardCheckPanel, IPanelActions } from './widget';

/** Ids of every command the extension adds. */
export namespace CommandIDs {
  export const openPanel = 'cardcheck:open-panel';
  export const verifyCard = 'cardcheck:verify-card';
  export const cancelJob = 'cardcheck:cancel-job';
  export const checkNotebook = 'cardcheck:check-notebook';
  export const verifyFile = 'cardcheck:verify-file';
  export const chooseCard = 'cardcheck:choose-card';
  export const detectCard = 'cardcheck:detect-card';
  export const selectEditorCard = 'cardcheck:select-editor-card';
  export const openClaim = 'cardcheck:open-claim';
  export const openEvidence = 'cardcheck:open-evidence';
}

/** Commands listed in the command palette. */
export const PALETTE_COMMANDS: readonly string[] = [
  CommandIDs.openPanel,
  CommandIDs.verifyCard,
  CommandIDs.cancelJob,
  CommandIDs.chooseCard,
  CommandIDs.detectCard,
  CommandIDs.selectEditorCard
];

export interface ICommandContext {
  app: JupyterFrontEnd;
  model: CardCheckModel;
  panel: CardCheckPanel;
  docManager: IDocumentManager;
  translator: ITranslator;
  trans: TranslationBundle;
  notebookTracker: INotebookTracker | null;
  browserFactory: IFileBrowserFactory | null;
  /** Folder the file browser shows, where card detection starts. */
  browserFolder: () => string;
  /** Job options from the settings, read when a job starts. */
  overrides: () => IJobOverrides;
}

/** Returns the path of the first item selected in the file browser that has focus. */
function selectedBrowserPath(factory: IFileBrowserFactory | null): string | null {
  const browser = factory?.tracker.currentWidget;
  if (!browser) {
    return null;
  }
  const first = browser.selectedItems().next();
  return first.done ? null : first.value.path;
}

/**
 * Registers every CardCheck command and returns the panel's actions, each of
 * which runs one of them.
 */
export function addCommands(context: ICommandContext): IPanelActions {
  const { app, model, panel, docManager, trans } = context;
  const { commands, shell } = app;
  const canStart = (): boolean => !model.isStarting && !model.isJobActive;

  const revealPanel = (): void => {
    shell.activateById(panel.id);
  };

  /** Sets the detected card, or shows a notice and returns false when none was found. */
  const detectInto = async (folder: string): Promise<boolean> => {
    const path = await detectCard(docManager.services.contents, folder);
    if (path) {
      model.setCard({ path, origin: 'detected' });
      panel.notice = null;
      return true;
    }
    panel.notice = trans.__(
      'No MODEL_CARD.md or README.md found in "%1" or its parent folders; choose the model card.',
      folder || '/'
    );
    return false;
  };

  /** Starts a job on the current card, detecting a card from `folder` when none is set. */
  const startJob = async (folder: string, notebooks?: string[]): Promise<void> => {
    revealPanel();
    if (!model.card && !(await detectInto(folder))) {
      return;
    }
    panel.notice = null;
    if (model.serverError) {
      await model.refreshServerInfo();
    }
    await model.start(notebooks, context.overrides());
  };

  commands.addCommand(CommandIDs.openPanel, {
    label: trans.__('Open Model Card Check Panel'),
    caption: trans.__('Show the panel that checks a model card against the notebooks'),
    execute: () => revealPanel()
  });

  commands.addCommand(CommandIDs.verifyCard, {
    label: trans.__('Verify Model Card'),
    caption: trans.__(
      'Check the numbers in the model card against the saved outputs of the notebooks'
    ),
    isEnabled: canStart,
    execute: async args => {
      const path = typeof args.path === 'string' ? args.path : '';
      if (path) {
        model.setCard({ path, origin: 'chosen' });
      }
      await startJob(context.browserFolder());
    }
  });

  commands.addCommand(CommandIDs.cancelJob, {
    label: trans.__('Cancel Model Card Check'),
    isEnabled: () => model.isJobActive,
    execute: () => model.cancel()
  });

  commands.addCommand(CommandIDs.checkNotebook, {
    label: trans.__('Check this notebook against the model card'),
    caption: trans.__('Verify the model card using this notebook alone'),
    isEnabled: () => canStart() && !!context.notebookTracker?.currentWidget,
    execute: async args => {
      const path =
        typeof args.path === 'string' && args.path
          ? args.path
          : context.notebookTracker?.currentWidget?.context.path;
      if (!path) {
        return;
      }
      await startJob(PathExt.dirname(path), [path]);
    }
  });

  commands.addCommand(CommandIDs.verifyFile, {
    label: trans.__('Verify this model card'),
    caption: trans.__('Check this Markdown file against the notebooks next to it'),
    isEnabled: canStart,
    isVisible: () => {
      const path = selectedBrowserPath(context.browserFactory);
      return path !== null && isMarkdownPath(path);
    },
    execute: async args => {
      const path =
        typeof args.path === 'string' && args.path
          ? args.path
          : selectedBrowserPath(context.browserFactory);
      if (!path) {
        return;
      }
      model.setCard({ path, origin: 'chosen' });
      await startJob(PathExt.dirname(path));
    }
  });

  commands.addCommand(CommandIDs.chooseCard, {
    label: trans.__('Choose Model Card…'),
    isEnabled: canStart,
    execute: async () => {
      const result = await FileDialog.getOpenFiles({
        manager: docManager,
        translator: context.translator,
        title: trans.__('Choose the model card'),
        filter: item =>
          item.type === 'directory' || isMarkdownPath(item.path) ? {} : null
      });
      const chosen = result.button.accept ? result.value?.[0] : undefined;
      if (chosen && chosen.type !== 'directory') {
        model.setCard({ path: chosen.path, origin: 'chosen' });
        panel.notice = null;
      }
    }
  });

  commands.addCommand(CommandIDs.detectCard, {
    label: trans.__('Detect Model Card'),
    caption: trans.__(
      'Look for MODEL_CARD.md or README.md in the file browser folder and its parents'
    ),
    isEnabled: canStart,
    execute: () => detectInto(context.browserFolder())
  });

  commands.addCommand(CommandIDs.selectEditorCard, {
    label: trans.__('Use Open Markdown File as Model Card'),
    isEnabled: () => canStart() && panel.openMarkdownPath !== null,
    execute: () => {
      const path = panel.openMarkdownPath;
      if (path) {
        model.setCard({ path, origin: 'editor' });
        panel.notice = null;
      }
    }
  });

  commands.addCommand(CommandIDs.openClaim, {
    label: trans.__('Open Model Card at Claim'),
    execute: async args => {
      const path =
        (typeof args.path === 'string' && args.path) ||
        model.job?.card ||
        model.card?.path;
      const line = Number(args.line ?? 1);
      if (path) {
        await openCardAtLine(docManager, shell, path, line);
      }
    }
  });

  commands.addCommand(CommandIDs.openEvidence, {
    label: trans.__('Open Notebook at Evidence Cell'),
    execute: async args => {
      const notebook = typeof args.notebook === 'string' ? args.notebook : '';
      if (!notebook) {
        return;
      }
      // Evidence paths are relative to the job's workspace.
      const workspace =
        typeof args.workspace === 'string' ? args.workspace : model.job?.workspace ?? '';
      const cellId = typeof args.cellId === 'string' ? args.cellId : null;
      await openNotebookAtCell(
        docManager,
        shell,
        PathExt.join(workspace, notebook),
        Number(args.cellIndex ?? 0),
        cellId
      );
    }
  });

  return {
    verify: () => void commands.execute(CommandIDs.verifyCard),
    cancel: () => void commands.execute(CommandIDs.cancelJob),
    useOpenFile: () => void commands.execute(CommandIDs.selectEditorCard),
    chooseCard: () => void commands.execute(CommandIDs.chooseCard),
    detectCard: () => void commands.execute(CommandIDs.detectCard),
    openClaim: (claim: IClaim) =>
      void commands.execute(CommandIDs.openClaim, { line: claim.line }),
    openEvidence: (evidence: IEvidence) =>
      void commands.execute(CommandIDs.openEvidence, {
        notebook: evidence.notebook,
        cellIndex: evidence.cell_index,
        cellId: evidence.cell_id ?? null
      })
  };
}
