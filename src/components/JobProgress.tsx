import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { jobStateLabel, notebookStatusLabel } from '../format';
import type { IJobView } from '../model';
import type { INotebookProgress } from '../types';

export interface IProgressBarProps {
  value: number;
  max: number;
  label: string;
}

/** Renders a determinate progress bar. An unknown total shows as 0 of 0. */
export function ProgressBar(props: IProgressBarProps): JSX.Element {
  const max = Math.max(props.max, 0);
  const value = Math.min(Math.max(props.value, 0), max);
  const percent = max > 0 ? Math.round((100 * value) / max) : 0;
  return (
    <div
      className="jp-CardCheck-progress"
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
    >
      <div className="jp-CardCheck-progressFill" style={{ width: `${percent}%` }} />
    </div>
  );
}

export interface INotebookRowProps {
  notebook: INotebookProgress;
  trans: TranslationBundle;
}

/**
 * Renders one notebook: path, status, time taken, its error and warnings.
 * The panel shows notes once for the whole job instead.
 */
export function NotebookRow(props: INotebookRowProps): JSX.Element {
  const { notebook, trans } = props;
  const status = notebookStatusLabel(notebook.status, trans);
  const warnings = notebook.warnings ?? [];
  return (
    <li
      className={`jp-CardCheck-notebook jp-CardCheck-status-${notebook.status}`}
      data-status={notebook.status}
      aria-label={trans.__('%1: %2', notebook.path, status)}
    >
      <div className="jp-CardCheck-notebookHeader">
        <span className="jp-CardCheck-notebookPath" title={notebook.path}>
          {notebook.path}
        </span>
        <span className="jp-CardCheck-badge jp-CardCheck-notebookStatus">{status}</span>
      </div>
      {notebook.status === 'done' && (
        <div className="jp-CardCheck-notebookDetail">
          {trans._n(
            '%1 value found in %2 s',
            '%1 values found in %2 s',
            notebook.evidence_count ?? 0,
            (notebook.seconds ?? 0).toFixed(1)
          )}
        </div>
      )}
      {notebook.error && (
        <div className="jp-CardCheck-notebookError" role="alert">
          {notebook.error}
        </div>
      )}
      {warnings.length > 0 && (
        <ul className="jp-CardCheck-messages" aria-label={trans.__('Warnings')}>
          {warnings.map((warning, index) => (
            <li key={index} className="jp-CardCheck-warning">
              {warning}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

export interface IJobProgressProps {
  job: IJobView;
  /** Notebook paths the job is restricted to, or null for all. */
  restrictedTo: string[] | null;
  trans: TranslationBundle;
}

/** Renders the job state, the overall progress bar and one row per notebook. */
export function JobProgress(props: IJobProgressProps): JSX.Element {
  const { job, trans } = props;
  const total = job.total || job.notebooks.length;
  return (
    <section className="jp-CardCheck-section" aria-label={trans.__('Progress')}>
      <div className="jp-CardCheck-jobState" role="status" data-state={job.state}>
        {trans.__(
          '%1: %2 of %3 notebooks checked',
          jobStateLabel(job.state, trans),
          job.processed,
          total
        )}
      </div>
      {props.restrictedTo && (
        <div className="jp-CardCheck-restriction">
          {trans.__('Restricted to %1', props.restrictedTo.join(', '))}
        </div>
      )}
      <ProgressBar
        value={job.processed}
        max={total}
        label={trans.__('Notebooks checked')}
      />
      {job.state === 'failed' && job.error && (
        <div className="jp-CardCheck-error" role="alert">
          {trans.__('The job failed: %1', job.error)}
        </div>
      )}
      {job.state === 'interrupted' && (
        <div className="jp-CardCheck-error" role="alert">
          {trans.__(
            'The job was interrupted before it finished; verify the card again.'
          )}
        </div>
      )}
      {job.notebooks.length > 0 && (
        <ul className="jp-CardCheck-notebooks" aria-label={trans.__('Notebooks')}>
          {job.notebooks.map(notebook => (
            <NotebookRow key={notebook.path} notebook={notebook} trans={trans} />
          ))}
        </ul>
      )}
    </section>
  );
}
