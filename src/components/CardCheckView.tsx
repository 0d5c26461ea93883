import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { CardCheckRequestError } from '../api';
import { describeRequestError } from '../format';
import type { ICardChoice, IJobView, IRetryState } from '../model';
import type { IClaim, IEvidence, IServerInfo } from '../types';
import { ClaimList } from './ClaimList';
import { JobProgress } from './JobProgress';

/** LLM options from the user's settings; empty strings leave the server's choice. */
export interface IProviderSettings {
  provider: string;
  model: string;
}

export interface IServerStatusProps {
  info: IServerInfo | null;
  settings: IProviderSettings;
  trans: TranslationBundle;
}

/** Renders the provider and model in effect, and whether the server has an API key for it. */
export function ServerStatus(props: IServerStatusProps): JSX.Element | null {
  const { info, settings, trans } = props;
  if (!info) {
    return null;
  }
  const provider = settings.provider || info.provider || 'none';
  const model = settings.provider ? settings.model : settings.model || info.model;
  const llmOff = provider === 'none';
  return (
    <dl className="jp-CardCheck-server" aria-label={trans.__('Server')}>
      <dt>{trans.__('Provider')}</dt>
      <dd className="jp-CardCheck-provider">
        {llmOff
          ? trans.__('none (rule-based extraction only)')
          : model
            ? trans.__('%1, model %2', provider, model)
            : provider}
      </dd>
      {!llmOff && (
        <>
          <dt>{trans.__('API key')}</dt>
          <dd className="jp-CardCheck-apiKey">
            {info.llm_key_configured
              ? trans.__('configured on the server')
              : trans.__('not configured on the server')}
          </dd>
        </>
      )}
      <dt>{trans.__('Server extension')}</dt>
      <dd>{trans.__('version %1', info.version)}</dd>
    </dl>
  );
}

export interface ICardPickerProps {
  card: ICardChoice | null;
  /** Path of the Markdown file open in the main area, or null. */
  openMarkdownPath: string | null;
  disabled: boolean;
  trans: TranslationBundle;
  onUseOpenFile: () => void;
  onChooseCard: () => void;
  onDetectCard: () => void;
}

/** Renders the model card in use and the three ways to pick one. */
export function CardPicker(props: ICardPickerProps): JSX.Element {
  const { card, trans } = props;
  const origin = card
    ? {
        editor: trans.__('open in the editor'),
        chosen: trans.__('chosen'),
        detected: trans.__('detected')
      }[card.origin]
    : '';
  return (
    <section className="jp-CardCheck-section" aria-label={trans.__('Model card')}>
      <div className="jp-CardCheck-card">
        <span className="jp-CardCheck-label">{trans.__('Model card:')}</span>{' '}
        {card ? (
          <>
            <span className="jp-CardCheck-cardPath" title={card.path}>
              {card.path}
            </span>{' '}
            <span className="jp-CardCheck-cardOrigin">({origin})</span>
          </>
        ) : (
          <span className="jp-CardCheck-cardPath jp-mod-empty">
            {trans.__('none selected')}
          </span>
        )}
      </div>
      <div className="jp-CardCheck-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          disabled={props.disabled || !props.openMarkdownPath}
          title={
            props.openMarkdownPath
              ? trans.__('Use %1 as the model card', props.openMarkdownPath)
              : trans.__('Open a Markdown file in the editor first')
          }
          onClick={props.onUseOpenFile}
        >
          {trans.__('Use open file')}
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          disabled={props.disabled}
          title={trans.__('Choose a Markdown file from the workspace')}
          onClick={props.onChooseCard}
        >
          {trans.__('Choose…')}
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          disabled={props.disabled}
          title={trans.__('Look for MODEL_CARD.md or README.md')}
          onClick={props.onDetectCard}
        >
          {trans.__('Detect')}
        </button>
      </div>
    </section>
  );
}

export interface IErrorBannerProps {
  error: CardCheckRequestError | null;
  retry: IRetryState | null;
  notice: string | null;
  trans: TranslationBundle;
}

/** Renders the error that stopped the job, the retry in progress, or a notice. */
export function ErrorBanner(props: IErrorBannerProps): JSX.Element | null {
  const { error, retry, notice, trans } = props;
  if (error) {
    return (
      <div className="jp-CardCheck-error" role="alert">
        {describeRequestError(error, trans)}
      </div>
    );
  }
  if (retry) {
    return (
      <div className="jp-CardCheck-warningBanner" role="status">
        {trans.__(
          '%1 Retrying (attempt %2 of %3).',
          describeRequestError(retry.error, trans),
          retry.attempt,
          retry.maxAttempts
        )}
      </div>
    );
  }
  if (notice) {
    return (
      <div className="jp-CardCheck-notice" role="status">
        {notice}
      </div>
    );
  }
  return null;
}

/** Returns the distinct notes of a job, such as "LLM extraction not available: ...". */
export function collectNotes(job: IJobView | null): string[] {
  if (!job) {
    return [];
  }
  const notes = new Set<string>();
  job.notebooks.forEach(notebook => (notebook.notes ?? []).forEach(note => notes.add(note)));
  const summaryNotes = job.summary?.['notes'];
  if (Array.isArray(summaryNotes)) {
    summaryNotes.forEach(note => {
      if (typeof note === 'string') {
        notes.add(note);
      }
    });
  }
  return Array.from(notes);
}

export interface ICardCheckViewProps {
  trans: TranslationBundle;
  serverInfo: IServerInfo | null;
  /** Error of the last failed `GET version`, or null. */
  serverError: CardCheckRequestError | null;
  providerSettings: IProviderSettings;
  card: ICardChoice | null;
  openMarkdownPath: string | null;
  job: IJobView | null;
  restrictedTo: string[] | null;
  error: CardCheckRequestError | null;
  retry: IRetryState | null;
  notice: string | null;
  isStarting: boolean;
  isJobActive: boolean;
  onVerify: () => void;
  onCancel: () => void;
  onUseOpenFile: () => void;
  onChooseCard: () => void;
  onDetectCard: () => void;
  onOpenClaim: (claim: IClaim) => void;
  onOpenEvidence: (evidence: IEvidence) => void;
}

/** Renders the whole model card check panel. */
export function CardCheckView(props: ICardCheckViewProps): JSX.Element {
  const { trans, job } = props;
  const busy = props.isStarting || props.isJobActive;
  // A failed `GET version` does not disable the button: the server may be
  // back by now, and a failing `POST jobs` shows its own error.
  const canVerify = !busy && props.card !== null;
  const notes = collectNotes(job);
  return (
    <div className="jp-CardCheck-content">
      <h2 className="jp-CardCheck-title">{trans.__('Model card check')}</h2>
      {props.serverError && (
        <div className="jp-CardCheck-error" role="alert">
          {describeRequestError(props.serverError, trans)}
        </div>
      )}
      <ServerStatus
        info={props.serverInfo}
        settings={props.providerSettings}
        trans={trans}
      />
      <CardPicker
        card={props.card}
        openMarkdownPath={props.openMarkdownPath}
        disabled={busy}
        trans={trans}
        onUseOpenFile={props.onUseOpenFile}
        onChooseCard={props.onChooseCard}
        onDetectCard={props.onDetectCard}
      />
      <div className="jp-CardCheck-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          disabled={!canVerify}
          onClick={props.onVerify}
        >
          {props.isStarting ? trans.__('Starting…') : trans.__('Verify model card')}
        </button>
        {props.isJobActive && (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-warn"
            onClick={props.onCancel}
          >
            {trans.__('Cancel')}
          </button>
        )}
      </div>
      <ErrorBanner
        error={props.error}
        retry={props.retry}
        notice={props.notice}
        trans={trans}
      />
      {job && (
        <JobProgress job={job} restrictedTo={props.restrictedTo} trans={trans} />
      )}
      {notes.length > 0 && (
        <section className="jp-CardCheck-section" aria-label={trans.__('Notes')}>
          <ul className="jp-CardCheck-messages">
            {notes.map(note => (
              <li key={note} className="jp-CardCheck-note">
                {note}
              </li>
            ))}
          </ul>
        </section>
      )}
      {job && (
        <ClaimList
          claims={job.claims}
          trans={trans}
          onOpenClaim={props.onOpenClaim}
          onOpenEvidence={props.onOpenEvidence}
        />
      )}
      {job && job.state === 'done' && job.claims.length === 0 && (
        <p className="jp-CardCheck-empty">
          {trans.__('No numeric claims were found in the model card.')}
        </p>
      )}
    </div>
  );
}
