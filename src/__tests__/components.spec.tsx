import { nullTranslator } from '@jupyterlab/translation';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import * as React from 'react';
import { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { CardCheckClient, CardCheckRequestError } from '../api';
import { CardCheckView, collectNotes, ICardCheckViewProps } from '../components/CardCheckView';
import { countVerdicts } from '../components/ClaimList';
import { CardCheckModel, IJobView, sortClaims } from '../model';
import type { IEvidence } from '../types';
import { CardCheckPanel, IPanelActions } from '../widget';
import { FakeServer, makeClaim, makeNotebook } from './fakeServer';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('cardcheck_lab');

const evidence: IEvidence = {
  notebook: '2_train.ipynb',
  cell_index: 5,
  cell_id: 'cell-5',
  output_index: 0,
  metric: 'accuracy',
  value: 0.7034,
  unit: 'fraction',
  text: 'test accuracy 0.7034',
  token: '0.7034'
};

function makeJob(extra: Partial<IJobView> = {}): IJobView {
  return {
    id: 'job1',
    state: 'running',
    seq: 4,
    error: null,
    total: 3,
    processed: 1,
    card: 'project/MODEL_CARD.md',
    workspace: 'project',
    notebooks: [
      makeNotebook('1_prep.ipynb', 'done', { evidence_count: 2, seconds: 0.5 }),
      makeNotebook('2_train.ipynb', 'running'),
      makeNotebook('broken.ipynb', 'failed', { error: 'Notebook is not valid JSON' })
    ],
    claims: sortClaims([
      makeClaim('v', 'verified', { text: 'AUC is 0.91', line: 3 }),
      makeClaim('m', 'mismatch', {
        text: 'Accuracy is 0.87',
        line: 12,
        evidence: [evidence],
        reason: 'differs by 0.1666'
      }),
      makeClaim('n', 'no_evidence', { text: 'Recall is 0.5', line: 20 })
    ]),
    summary: null,
    ...extra
  };
}

function makeProps(extra: Partial<ICardCheckViewProps> = {}): ICardCheckViewProps {
  return {
    trans,
    serverInfo: {
      version: '0.1.0',
      provider: 'none',
      model: '',
      base_url: '',
      llm_key_configured: false,
      workers: 5
    },
    serverError: null,
    providerSettings: { provider: '', model: '' },
    card: { path: 'project/MODEL_CARD.md', origin: 'detected' },
    openMarkdownPath: null,
    job: null,
    restrictedTo: null,
    error: null,
    retry: null,
    notice: null,
    isStarting: false,
    isJobActive: false,
    onVerify: jest.fn(),
    onCancel: jest.fn(),
    onUseOpenFile: jest.fn(),
    onChooseCard: jest.fn(),
    onDetectCard: jest.fn(),
    onOpenClaim: jest.fn(),
    onOpenEvidence: jest.fn(),
    ...extra
  };
}

function buttonByText(container: HTMLElement, text: string): HTMLButtonElement {
  const button = Array.from(container.querySelectorAll('button')).find(
    item => item.textContent?.trim() === text
  );
  if (!button) {
    throw new Error(`no button "${text}"`);
  }
  return button;
}

describe('CardCheckView', () => {
  let container: HTMLDivElement;
  let root: Root;

  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });

  afterEach(() => {
    act(() => root.unmount());
    container.remove();
  });

  function render(props: ICardCheckViewProps): void {
    act(() => root.render(<CardCheckView {...props} />));
  }

  it('shows the card in use and the provider', () => {
    render(makeProps());
    expect(container.querySelector('.jp-CardCheck-cardPath')?.textContent).toBe(
      'project/MODEL_CARD.md'
    );
    expect(container.querySelector('.jp-CardCheck-cardOrigin')?.textContent).toBe('(detected)');
    expect(container.querySelector('.jp-CardCheck-provider')?.textContent).toBe(
      'none (rule-based extraction only)'
    );
    expect(container.querySelector('.jp-CardCheck-apiKey')).toBeNull();
  });

  it('shows whether the server has an API key, never the key', () => {
    const props = makeProps({ providerSettings: { provider: 'openai', model: 'gpt-4o-mini' } });
    render(props);
    expect(container.querySelector('.jp-CardCheck-provider')?.textContent).toBe(
      'openai, model gpt-4o-mini'
    );
    expect(container.querySelector('.jp-CardCheck-apiKey')?.textContent).toBe(
      'not configured on the server'
    );
  });

  it('starts a job from the verify button', () => {
    const props = makeProps();
    render(props);
    act(() => buttonByText(container, 'Verify model card').click());
    expect(props.onVerify).toHaveBeenCalledTimes(1);
  });

  it('disables verify without a card', () => {
    render(makeProps({ card: null }));
    expect(buttonByText(container, 'Verify model card').disabled).toBe(true);
    expect(container.textContent).toContain('none selected');
  });

  it('offers cancel while a job is active', () => {
    const props = makeProps({ job: makeJob(), isJobActive: true });
    render(props);
    expect(buttonByText(container, 'Verify model card').disabled).toBe(true);
    act(() => buttonByText(container, 'Cancel').click());
    expect(props.onCancel).toHaveBeenCalledTimes(1);
  });

  it('shows overall progress and one row per notebook', () => {
    render(makeProps({ job: makeJob(), isJobActive: true }));
    const bar = container.querySelector('[role="progressbar"]');
    expect(bar?.getAttribute('aria-valuenow')).toBe('1');
    expect(bar?.getAttribute('aria-valuemax')).toBe('3');
    const rows = Array.from(container.querySelectorAll('.jp-CardCheck-notebook'));
    expect(rows.map(row => row.getAttribute('data-status'))).toEqual([
      'done',
      'running',
      'failed'
    ]);
    expect(rows[2].querySelector('.jp-CardCheck-notebookError')?.textContent).toBe(
      'Notebook is not valid JSON'
    );
    expect(container.querySelector('.jp-CardCheck-jobState')?.textContent).toBe(
      'Running: 1 of 3 notebooks checked'
    );
  });

  it('lists mismatches first with both numbers', () => {
    render(makeProps({ job: makeJob() }));
    const rows = Array.from(container.querySelectorAll('.jp-CardCheck-claim'));
    expect(rows.map(row => row.getAttribute('data-verdict'))).toEqual([
      'mismatch',
      'no_evidence',
      'verified'
    ]);
    expect(rows[0].querySelector('.jp-CardCheck-values')?.textContent).toBe(
      'claimed 0.87 ± 0.005 · found 0.7034'
    );
    expect(rows[0].textContent).toContain('2_train.ipynb, cell 5');
    expect(rows[0].querySelector('.jp-CardCheck-reason')?.textContent).toBe('differs by 0.1666');
  });

  it('opens the evidence and the claim on click', () => {
    const props = makeProps({ job: makeJob() });
    render(props);
    const mismatch = container.querySelector('.jp-CardCheck-claim.jp-CardCheck-verdict-mismatch')!;
    act(() => buttonByText(mismatch as HTMLElement, '2_train.ipynb, cell 5').click());
    expect(props.onOpenEvidence).toHaveBeenCalledWith(evidence);

    act(() => (mismatch.querySelector('.jp-CardCheck-claimText') as HTMLElement).click());
    expect(props.onOpenClaim).toHaveBeenCalledWith(expect.objectContaining({ id: 'm', line: 12 }));
  });

  it('shows the not-enabled error', () => {
    render(
      makeProps({
        serverInfo: null,
        serverError: new CardCheckRequestError({ kind: 'not-enabled', endpoint: 'version', status: 404 })
      })
    );
    const alert = container.querySelector('[role="alert"]');
    expect(alert?.textContent).toBe(
      'CardCheck server extension is not enabled; run `jupyter server extension list`'
    );
  });

  it('shows a retry in progress and the final error', () => {
    const error = new CardCheckRequestError({ kind: 'network', endpoint: 'jobs/job1' });
    render(makeProps({ job: makeJob(), retry: { attempt: 2, maxAttempts: 4, error } }));
    expect(container.querySelector('.jp-CardCheck-warningBanner')?.textContent).toContain(
      'Retrying (attempt 2 of 4).'
    );

    render(makeProps({ job: makeJob(), error }));
    expect(container.querySelector('.jp-CardCheck-warningBanner')).toBeNull();
    expect(container.querySelector('.jp-CardCheck-error')?.textContent).toContain(
      'Could not reach the Jupyter server'
    );
  });

  it('shows the reason of a failed job', () => {
    render(makeProps({ job: makeJob({ state: 'failed', error: 'card is empty' }) }));
    expect(container.textContent).toContain('The job failed: card is empty');
  });

  it('shows each distinct note once', () => {
    const note = 'LLM extraction not available: no API key';
    const job = makeJob({
      notebooks: [
        makeNotebook('a.ipynb', 'done', { notes: [note] }),
        makeNotebook('b.ipynb', 'done', { notes: [note] })
      ]
    });
    expect(collectNotes(job)).toEqual([note]);
    render(makeProps({ job }));
    expect(container.querySelectorAll('.jp-CardCheck-note').length).toBe(1);
  });

  it('counts claims per verdict in severity order', () => {
    expect(countVerdicts(makeJob().claims)).toEqual([
      ['mismatch', 1],
      ['no_evidence', 1],
      ['verified', 1]
    ]);
  });
});

describe('CardCheckPanel', () => {
  function makeActions(): IPanelActions {
    return {
      verify: jest.fn(),
      cancel: jest.fn(),
      useOpenFile: jest.fn(),
      chooseCard: jest.fn(),
      detectCard: jest.fn(),
      openClaim: jest.fn(),
      openEvidence: jest.fn()
    };
  }

  async function flush(panel: CardCheckPanel): Promise<void> {
    await act(async () => {
      MessageLoop.sendMessage(panel, Widget.Msg.UpdateRequest);
      await panel.renderPromise;
    });
  }

  it('renders the model and follows its changes', async () => {
    const model = new CardCheckModel({ client: new CardCheckClient(new FakeServer().settings) });
    const panel = new CardCheckPanel({ model, actions: makeActions(), trans });
    act(() => Widget.attach(panel, document.body));
    await flush(panel);
    expect(panel.node.textContent).toContain('none selected');

    model.setCard({ path: 'MODEL_CARD.md', origin: 'chosen' });
    await flush(panel);
    expect(panel.node.querySelector('.jp-CardCheck-cardPath')?.textContent).toBe('MODEL_CARD.md');

    act(() => panel.dispose());
    expect(model.isDisposed).toBe(true);
  });

  it('puts the model on standby while hidden', async () => {
    const model = new CardCheckModel({ client: new CardCheckClient(new FakeServer().settings) });
    const panel = new CardCheckPanel({ model, actions: makeActions(), trans });
    act(() => Widget.attach(panel, document.body));
    expect(model.isPanelVisible).toBe(true);
    act(() => panel.hide());
    expect(model.isPanelVisible).toBe(false);
    act(() => panel.show());
    expect(model.isPanelVisible).toBe(true);
    act(() => panel.dispose());
  });

  it('calls the verify action from its button', async () => {
    const model = new CardCheckModel({ client: new CardCheckClient(new FakeServer().settings) });
    const actions = makeActions();
    const panel = new CardCheckPanel({ model, actions, trans });
    model.setCard({ path: 'MODEL_CARD.md', origin: 'chosen' });
    act(() => Widget.attach(panel, document.body));
    await flush(panel);
    act(() => buttonByText(panel.node, 'Verify model card').click());
    expect(actions.verify).toHaveBeenCalledTimes(1);
    act(() => panel.dispose());
  });
});
