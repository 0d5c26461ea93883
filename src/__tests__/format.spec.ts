import { nullTranslator } from '@jupyterlab/translation';

import { CardCheckRequestError } from '../api';
import {
  describeRequestError,
  formatClaimed,
  formatClaimValue,
  formatFound,
  formatNumber,
  formatWhere
} from '../format';
import { makeClaim } from './fakeServer';

const trans = nullTranslator.load('cardcheck_lab');

const evidence = {
  notebook: '2_train.ipynb',
  cell_index: 5,
  cell_id: 'abc',
  output_index: 0,
  metric: 'accuracy',
  value: 0.7034,
  unit: 'fraction',
  text: 'accuracy: 0.7034',
  token: '0.7034'
};

describe('format', () => {
  it('formats a claimed value with its decimals and tolerance', () => {
    const claim = makeClaim('c', 'mismatch', { value: 0.87, decimals: 2, tolerance: 0.005 });
    expect(formatClaimed(claim, trans)).toBe('claimed 0.87 ± 0.005');
  });

  it('keeps trailing zeros the card wrote', () => {
    const claim = makeClaim('c', 'verified', { value: 87, unit: 'percent', decimals: 1, tolerance: 0.05 });
    expect(formatClaimValue(claim)).toBe('87.0%');
    expect(formatClaimed(claim, trans)).toBe('claimed 87.0% ± 0.05%');
  });

  it('shows the relation and hedge', () => {
    expect(formatClaimValue(makeClaim('c', 'verified', { relation: '<', value: 0.1, decimals: 1 }))).toBe('< 0.1');
    expect(formatClaimValue(makeClaim('c', 'verified', { hedge: '~', value: 0.9, decimals: 1 }))).toBe('~0.9');
    expect(formatClaimValue(makeClaim('c', 'verified', { hedge: 'about', value: 0.9, decimals: 1 }))).toBe('about 0.9');
  });

  it('prints the found value as the output printed it', () => {
    const claim = makeClaim('c', 'mismatch', { evidence: [evidence] });
    expect(formatFound(claim, trans)).toBe('found 0.7034');
    expect(formatWhere(evidence, trans)).toBe('2_train.ipynb, cell 5');
  });

  it('falls back to the parsed value without a token', () => {
    const claim = makeClaim('c', 'mismatch', {
      evidence: [{ ...evidence, token: '', value: 70.3456789, unit: 'percent' }]
    });
    expect(formatFound(claim, trans)).toBe('found 70.3457%');
  });

  it('trims numbers to significant digits', () => {
    expect(formatNumber(0.123456789)).toBe('0.123457');
    expect(formatNumber(1200)).toBe('1200');
    expect(formatNumber(NaN)).toBe('NaN');
  });
});

describe('describeRequestError', () => {
  it('names the fix for a missing server extension', () => {
    const error = new CardCheckRequestError({ kind: 'not-enabled', endpoint: 'version', status: 404 });
    expect(describeRequestError(error, trans)).toBe(
      'CardCheck server extension is not enabled; run `jupyter server extension list`'
    );
  });

  it('names the fix for a 403', () => {
    const error = new CardCheckRequestError({ kind: 'forbidden', endpoint: 'jobs', status: 403 });
    expect(describeRequestError(error, trans)).toBe(
      'request rejected by the server (XSRF/auth); reload JupyterLab'
    );
  });

  it('includes the server message of other errors', () => {
    const error = new CardCheckRequestError({
      kind: 'bad-request',
      endpoint: 'jobs',
      status: 400,
      serverMessage: 'card not found: x.md'
    });
    expect(describeRequestError(error, trans)).toBe(
      'Request jobs failed with status 400: card not found: x.md'
    );
  });
});
