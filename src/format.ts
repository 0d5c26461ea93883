import type { TranslationBundle } from '@jupyterlab/translation';

import type { CardCheckRequestError } from './api';
import type { IClaim, IEvidence } from './types';

/** Formats a number with at most `digits` significant digits and no trailing zeros. */
export function formatNumber(value: number, digits = 6): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  return String(Number(value.toPrecision(digits)));
}

/** Returns the suffix that follows a number in `unit`: '%' for percent, '' otherwise. */
function unitSuffix(unit: string): string {
  return unit === 'percent' ? '%' : '';
}

/**
 * Formats a claimed value as written in the card: its decimals, unit, hedge
 * and relation, such as "0.87", "~87.0%" or "< 0.05".
 */
export function formatClaimValue(claim: IClaim): string {
  const decimals = claim.decimals;
  const digits =
    Number.isInteger(decimals) && decimals >= 0 && decimals <= 20
      ? claim.value.toFixed(decimals)
      : formatNumber(claim.value);
  let text = `${digits}${unitSuffix(claim.unit)}`;
  if (claim.relation && claim.relation !== '=') {
    text = `${claim.relation} ${text}`;
  }
  if (claim.hedge) {
    text = claim.hedge === '~' ? `~${text}` : `${claim.hedge} ${text}`;
  }
  return text;
}

/** Formats the tolerance as "± 0.005", or '' when the claim has none. */
export function formatTolerance(claim: IClaim): string {
  if (!(claim.tolerance > 0)) {
    return '';
  }
  return `± ${formatNumber(claim.tolerance, 3)}${unitSuffix(claim.unit)}`;
}

/** Formats a found value as printed in the notebook output, falling back to the parsed value. */
export function formatEvidenceValue(evidence: IEvidence): string {
  if (evidence.token) {
    return evidence.token;
  }
  return `${formatNumber(evidence.value)}${unitSuffix(evidence.unit)}`;
}

/** Formats the claimed value with its tolerance: "claimed 0.87 ± 0.005". */
export function formatClaimed(claim: IClaim, trans: TranslationBundle): string {
  const tolerance = formatTolerance(claim);
  const value = tolerance
    ? `${formatClaimValue(claim)} ${tolerance}`
    : formatClaimValue(claim);
  return trans.__('claimed %1', value);
}

/** Formats the found values: "found 0.7034", or "found 0.70, 0.72" for several. */
export function formatFound(claim: IClaim, trans: TranslationBundle): string {
  const values = (claim.evidence ?? []).map(formatEvidenceValue);
  if (values.length === 0) {
    return trans.__('nothing found');
  }
  return trans.__('found %1', values.join(', '));
}

/** Formats where a value was found: "2_train.ipynb, cell 5" (0-based cell index). */
export function formatWhere(evidence: IEvidence, trans: TranslationBundle): string {
  return trans.__('%1, cell %2', evidence.notebook, evidence.cell_index);
}

/** Returns the label shown for a verdict. */
export function verdictLabel(verdict: string, trans: TranslationBundle): string {
  switch (verdict) {
    case 'mismatch':
      return trans.__('Mismatch');
    case 'conflicting':
      return trans.__('Conflicting');
    case 'unverifiable':
      return trans.__('Unverifiable');
    case 'no_evidence':
      return trans.__('No evidence');
    case 'verified':
      return trans.__('Verified');
    default:
      return trans.__('Pending');
  }
}

/** Returns the label shown for a job state. */
export function jobStateLabel(state: string, trans: TranslationBundle): string {
  switch (state) {
    case 'queued':
      return trans.__('Queued');
    case 'running':
      return trans.__('Running');
    case 'done':
      return trans.__('Done');
    case 'failed':
      return trans.__('Failed');
    case 'cancelled':
      return trans.__('Cancelled');
    case 'interrupted':
      return trans.__('Interrupted');
    default:
      return state;
  }
}

/** Returns the label shown for a notebook status. */
export function notebookStatusLabel(status: string, trans: TranslationBundle): string {
  switch (status) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'done':
      return trans.__('done');
    case 'failed':
      return trans.__('failed');
    case 'skipped':
      return trans.__('skipped');
    case 'cancelled':
      return trans.__('cancelled');
    default:
      return status;
  }
}

/** Returns the message that names a failed request's cause and its fix. */
export function describeRequestError(
  error: CardCheckRequestError,
  trans: TranslationBundle
): string {
  switch (error.kind) {
    case 'not-enabled':
      return trans.__(
        'CardCheck server extension is not enabled; run `jupyter server extension list`'
      );
    case 'forbidden':
      return trans.__(
        'request rejected by the server (XSRF/auth); reload JupyterLab'
      );
    case 'network':
      return trans.__(
        'Could not reach the Jupyter server (%1); check that it is still running',
        error.serverMessage || trans.__('no response')
      );
    case 'not-found':
      return trans.__('Not found: %1', error.serverMessage || error.endpoint);
    case 'invalid-response':
      return trans.__(
        'The server sent a response that is not JSON for %1',
        error.endpoint
      );
    case 'bad-request':
    case 'server':
    default:
      return trans.__(
        'Request %1 failed with status %2: %3',
        error.endpoint,
        error.status ?? '-',
        error.serverMessage || trans.__('no message')
      );
  }
}
