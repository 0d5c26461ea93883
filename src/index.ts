import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser, IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { CardCheckClient } from './api';
import { isMarkdownPath } from './cards';
import { addCommands, CommandIDs, PALETTE_COMMANDS } from './commands';
import { CardCheckModel, IJobOverrides } from './model';
import { readSettings } from './settings';
import { CardCheckPanel } from './widget';

/** Id of the main plugin; `schema/plugin.json` contains its settings and context menus. */
const PLUGIN_ID = 'cardcheck-lab:plugin';

/** Gettext domain of the extension's strings. */
const TRANSLATION_DOMAIN = 'cardcheck_lab';

/** Rank of the panel's tab in the left sidebar. */
const SIDEBAR_RANK = 850;

/**
 * Adds the "Model card check" panel to the left sidebar, its commands and
 * context-menu entries, and applies the user's settings.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Model card check: a sidebar panel, commands and context-menu entries that verify the numbers of a model card against the saved outputs of the notebooks.',
  autoStart: true,
  requires: [IDocumentManager],
  optional: [
    ITranslator,
    ISettingRegistry,
    ICommandPalette,
    ILabShell,
    ILayoutRestorer,
    INotebookTracker,
    IFileBrowserFactory,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    notebookTracker: INotebookTracker | null,
    browserFactory: IFileBrowserFactory | null,
    defaultBrowser: IDefaultFileBrowser | null
  ): void => {
    translator = translator ?? nullTranslator;
    const trans = translator.load(TRANSLATION_DOMAIN);

    const model = new CardCheckModel({
      client: new CardCheckClient(app.serviceManager.serverSettings)
    });
    let overrides: IJobOverrides = {};

    // The panel's actions run commands, which need the panel; the actions
    // object is filled in once the commands exist.
    const actions = {} as ReturnType<typeof addCommands>;
    const panel = new CardCheckPanel({ model, actions, trans });

    Object.assign(
      actions,
      addCommands({
        app,
        model,
        panel,
        docManager,
        translator,
        trans,
        notebookTracker,
        browserFactory,
        browserFolder: () => defaultBrowser?.model.path ?? '',
        overrides: () => overrides
      })
    );

    app.shell.add(panel, 'left', { rank: SIDEBAR_RANK });
    if (restorer) {
      restorer.add(panel, 'cardcheck-lab-panel');
    }

    if (palette) {
      const category = trans.__('Model Card Check');
      PALETTE_COMMANDS.forEach(command => palette.addItem({ command, category }));
    }

    // Offer the Markdown file in the main area as the card.
    if (labShell) {
      const onCurrentChanged = (): void => {
        const widget = labShell.currentWidget;
        const path = widget ? docManager.contextForWidget(widget)?.path : undefined;
        panel.openMarkdownPath = path && isMarkdownPath(path) ? path : null;
      };
      labShell.currentChanged.connect(onCurrentChanged);
      onCurrentChanged();
    }

    if (settingRegistry) {
      Promise.all([settingRegistry.load(PLUGIN_ID), app.restored])
        .then(([settings]) => {
          const apply = (): void => {
            const values = readSettings(settings.composite);
            model.pollInterval = values.pollInterval;
            overrides = {
              provider: values.provider,
              model: values.model,
              baseUrl: values.baseUrl,
              workers: values.workers
            };
            panel.providerSettings = {
              provider: values.provider,
              model: values.model
            };
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error(`${PLUGIN_ID}: failed to load settings.`, reason);
        });
    }

    void model.refreshServerInfo();

    void app.restored.then(async () => {
      if (model.card) {
        return;
      }
      if (defaultBrowser) {
        await defaultBrowser.model.restored;
      }
      await app.commands.execute(CommandIDs.detectCard);
    });
  }
};

export default plugin;
