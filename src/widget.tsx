import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import * as React from 'react';

import { CardCheckView, IProviderSettings } from './components/CardCheckView';
import { cardCheckIcon } from './icon';
import type { CardCheckModel } from './model';
import type { IClaim, IEvidence } from './types';

/** Actions that the panel's buttons and links trigger. */
export interface IPanelActions {
  verify: () => void;
  cancel: () => void;
  useOpenFile: () => void;
  chooseCard: () => void;
  detectCard: () => void;
  openClaim: (claim: IClaim) => void;
  openEvidence: (evidence: IEvidence) => void;
}

export namespace CardCheckPanel {
  export interface IOptions {
    model: CardCheckModel;
    actions: IPanelActions;
    trans: TranslationBundle;
  }
}

/**
 * Left sidebar widget that renders {@link CardCheckView} from a
 * {@link CardCheckModel}. It tells the model whether it is shown, so that the
 * poll is on standby while the panel is hidden, and disposes the model with
 * itself.
 */
export class CardCheckPanel extends ReactWidget {
  constructor(options: CardCheckPanel.IOptions) {
    super();
    this.model = options.model;
    this._actions = options.actions;
    this._trans = options.trans;
    this.id = 'cardcheck-lab-panel';
    this.addClass('jp-CardCheck');
    this.title.icon = cardCheckIcon;
    this.title.caption = this._trans.__('Model card check');
    this.model.stateChanged.connect(this._onModelChanged, this);
  }

  readonly model: CardCheckModel;

  /** Path of the Markdown file open in the main area, offered by "Use open file". */
  get openMarkdownPath(): string | null {
    return this._openMarkdownPath;
  }

  set openMarkdownPath(path: string | null) {
    if (path !== this._openMarkdownPath) {
      this._openMarkdownPath = path;
      this.update();
    }
  }

  get providerSettings(): IProviderSettings {
    return this._providerSettings;
  }

  set providerSettings(value: IProviderSettings) {
    this._providerSettings = value;
    this.update();
  }

  /** A message that is no error, such as "No model card found"; null hides it. */
  get notice(): string | null {
    return this._notice;
  }

  set notice(value: string | null) {
    if (value !== this._notice) {
      this._notice = value;
      this.update();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.isPanelVisible = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.isPanelVisible = false;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.model.isPanelVisible = this.isVisible;
  }

  render(): JSX.Element {
    const model = this.model;
    const actions = this._actions;
    return (
      <CardCheckView
        trans={this._trans}
        serverInfo={model.serverInfo}
        serverError={model.serverError}
        providerSettings={this._providerSettings}
        card={model.card}
        openMarkdownPath={this._openMarkdownPath}
        job={model.job}
        restrictedTo={model.restrictedTo}
        error={model.error}
        retry={model.retry}
        notice={this._notice}
        isStarting={model.isStarting}
        isJobActive={model.isJobActive}
        onVerify={actions.verify}
        onCancel={actions.cancel}
        onUseOpenFile={actions.useOpenFile}
        onChooseCard={actions.chooseCard}
        onDetectCard={actions.detectCard}
        onOpenClaim={actions.openClaim}
        onOpenEvidence={actions.openEvidence}
      />
    );
  }

  private _onModelChanged(): void {
    this.update();
  }

  private _actions: IPanelActions;
  private _notice: string | null = null;
  private _openMarkdownPath: string | null = null;
  private _providerSettings: IProviderSettings = { provider: '', model: '' };
  private _trans: TranslationBundle;
}
