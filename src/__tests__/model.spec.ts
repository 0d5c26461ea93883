import { CardCheckClient } from '../api';
import {
  buildJobRequest,
  CardCheckModel,
  commonFolder,
  mergeJobSnapshot,
  sortClaims
} from '../model';
import type { IJobSnapshot } from '../types';
import {
  FakeServer,
  IRecordedRequest,
  makeClaim,
  makeNotebook,
  makeSnapshot,
  waitFor
} from './fakeServer';

/** Milliseconds between polls in these tests. */
const FAST_POLL = 10;

function createModel(server: FakeServer, options: Partial<CardCheckModel.IOptions> = {}) {
  const model = new CardCheckModel({
    client: new CardCheckClient(server.settings),
    pollInterval: FAST_POLL,
    maxPollInterval: 40,
    ...options
  });
  model.setCard({ path: 'project/MODEL_CARD.md', origin: 'detected' });
  return model;
}

function jobPolls(server: FakeServer): IRecordedRequest[] {
  return server.requests.filter(
    request => request.method === 'GET' && request.endpoint === 'jobs/job1'
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/**
 * Routes `POST jobs` to a created job and each `GET jobs/job1` to the next
 * snapshot of `snapshots`, repeating the last one.
 */
function scriptJob(server: FakeServer, snapshots: IJobSnapshot[]): void {
  let index = 0;
  server.route = request => {
    if (request.method === 'POST' && request.endpoint === 'jobs') {
      return { status: 202, json: { id: 'job1', state: 'queued', seq: 0 } };
    }
    if (request.method === 'GET' && request.endpoint === 'jobs/job1') {
      const snapshot = snapshots[Math.min(index, snapshots.length - 1)];
      index++;
      return { status: 200, json: snapshot };
    }
    if (request.method === 'DELETE') {
      return { status: 202, json: { id: 'job1', state: 'running', seq: 3 } };
    }
    return { status: 404, text: 'no route' };
  };
}

describe('sortClaims', () => {
  it('orders claims by verdict severity', () => {
    const claims = [
      makeClaim('a', 'verified'),
      makeClaim('b', 'no_evidence'),
      makeClaim('c', 'mismatch'),
      makeClaim('d', 'unverifiable'),
      makeClaim('e', 'conflicting')
    ];
    expect(sortClaims(claims).map(claim => claim.verdict)).toEqual([
      'mismatch',
      'conflicting',
      'unverifiable',
      'no_evidence',
      'verified'
    ]);
  });

  it('orders equal verdicts by card line, unknown verdicts last', () => {
    const claims = [
      makeClaim('late', 'mismatch', { line: 30 }),
      makeClaim('odd', 'pending', { line: 1 }),
      makeClaim('early', 'mismatch', { line: 4 })
    ];
    expect(sortClaims(claims).map(claim => claim.id)).toEqual(['early', 'late', 'odd']);
  });

  it('does not modify its input', () => {
    const claims = [makeClaim('a', 'verified'), makeClaim('b', 'mismatch')];
    sortClaims(claims);
    expect(claims.map(claim => claim.id)).toEqual(['a', 'b']);
  });
});

describe('mergeJobSnapshot', () => {
  it('merges changed notebooks by path and claims by id', () => {
    const first = mergeJobSnapshot(
      null,
      makeSnapshot({
        seq: 3,
        notebooks: [makeNotebook('a.ipynb', 'running'), makeNotebook('b.ipynb', 'queued')],
        claims: [makeClaim('c1', 'no_evidence'), makeClaim('c2', 'verified')]
      })
    );
    const second = mergeJobSnapshot(
      first,
      makeSnapshot({
        seq: 5,
        processed: 1,
        notebooks: [makeNotebook('a.ipynb', 'done', { evidence_count: 4 })],
        claims: [makeClaim('c1', 'mismatch')]
      })
    );

    expect(second.seq).toBe(5);
    expect(second.processed).toBe(1);
    expect(second.notebooks.map(nb => [nb.path, nb.status])).toEqual([
      ['a.ipynb', 'done'],
      ['b.ipynb', 'queued']
    ]);
    expect(second.notebooks[0].evidence_count).toBe(4);
    expect(second.claims.map(claim => [claim.id, claim.verdict])).toEqual([
      ['c1', 'mismatch'],
      ['c2', 'verified']
    ]);
  });

  it('leaves the previous view unchanged', () => {
    const first = mergeJobSnapshot(
      null,
      makeSnapshot({ notebooks: [makeNotebook('a.ipynb', 'running')] })
    );
    mergeJobSnapshot(first, makeSnapshot({ notebooks: [makeNotebook('a.ipynb', 'done')] }));
    expect(first.notebooks[0].status).toBe('running');
  });

  it('drops entries of another job', () => {
    const first = mergeJobSnapshot(
      null,
      makeSnapshot({ id: 'old', claims: [makeClaim('c1', 'verified')] })
    );
    const second = mergeJobSnapshot(first, makeSnapshot({ id: 'new', claims: [] }));
    expect(second.claims).toEqual([]);
  });
});

describe('buildJobRequest', () => {
  it('uses the card folder as the workspace', () => {
    expect(buildJobRequest('project/MODEL_CARD.md', undefined, {})).toEqual({
      card: 'project/MODEL_CARD.md',
      workspace: 'project'
    });
  });

  it('restricts to notebooks and widens the workspace to contain them', () => {
    const request = buildJobRequest('project/cards/MODEL_CARD.md', ['project/nb/a.ipynb'], {});
    expect(request.notebooks).toEqual(['project/nb/a.ipynb']);
    expect(request.workspace).toBe('project');
  });

  it('sends only the overrides that are set', () => {
    const request = buildJobRequest('MODEL_CARD.md', undefined, {
      provider: 'none',
      model: '',
      baseUrl: '',
      workers: 0
    });
    expect(request).toEqual({ card: 'MODEL_CARD.md', workspace: '', provider: 'none' });
  });

  it('finds the common folder of paths', () => {
    expect(commonFolder(['a/b/c.md', 'a/b/d/e.ipynb'])).toBe('a/b');
    expect(commonFolder(['a/c.md', 'b/e.ipynb'])).toBe('');
    expect(commonFolder(['c.md'])).toBe('');
  });
});

describe('CardCheckModel', () => {
  let server: FakeServer;
  let model: CardCheckModel;

  beforeEach(() => {
    server = new FakeServer();
  });

  afterEach(() => {
    model?.dispose();
  });

  it('stores the server info', async () => {
    server.route = () => ({
      status: 200,
      json: {
        version: '0.1.0',
        provider: 'none',
        model: '',
        base_url: '',
        llm_key_configured: false,
        workers: 5
      }
    });
    model = createModel(server);
    await model.refreshServerInfo();
    expect(model.serverInfo?.workers).toBe(5);
    expect(model.serverError).toBeNull();
  });

  it('reports a missing server extension', async () => {
    server.route = () => ({ status: 404, text: '<html>404</html>' });
    model = createModel(server);
    await model.refreshServerInfo();
    expect(model.serverInfo).toBeNull();
    expect(model.serverError?.kind).toBe('not-enabled');
  });

  it('polls with since and stops when the job ends', async () => {
    scriptJob(server, [
      makeSnapshot({
        seq: 2,
        notebooks: [makeNotebook('a.ipynb', 'running'), makeNotebook('b.ipynb', 'queued')]
      }),
      makeSnapshot({
        seq: 4,
        processed: 1,
        notebooks: [makeNotebook('a.ipynb', 'done')],
        claims: [makeClaim('c1', 'verified')]
      }),
      makeSnapshot({
        seq: 6,
        state: 'done',
        processed: 2,
        notebooks: [makeNotebook('b.ipynb', 'failed', { error: 'invalid JSON' })],
        claims: [makeClaim('c2', 'mismatch')]
      })
    ]);
    model = createModel(server);

    expect(await model.start()).toBe(true);
    expect(model.isPolling).toBe(true);
    await waitFor(() => model.job?.state === 'done');

    const polls = jobPolls(server);
    expect(polls.map(poll => poll.query.get('since'))).toEqual([null, '2', '4']);
    expect(model.isPolling).toBe(false);
    expect(model.isJobActive).toBe(false);
    expect(model.job?.notebooks.map(nb => nb.status)).toEqual(['done', 'failed']);
    expect(model.job?.notebooks[1].error).toBe('invalid JSON');
    expect(model.job?.claims.map(claim => claim.id)).toEqual(['c2', 'c1']);

    await sleep(FAST_POLL * 5);
    expect(jobPolls(server).length).toBe(3);
  });

  it('sends the card, workspace and overrides', async () => {
    scriptJob(server, [makeSnapshot({ state: 'done' })]);
    model = createModel(server);
    await model.start(['project/a.ipynb'], { provider: 'none', workers: 3 });
    const post = server.requests.find(request => request.method === 'POST');
    expect(post?.body).toEqual({
      card: 'project/MODEL_CARD.md',
      workspace: 'project',
      notebooks: ['project/a.ipynb'],
      provider: 'none',
      workers: 3
    });
    expect(model.restrictedTo).toEqual(['project/a.ipynb']);
  });

  it.each([
    [403, 'forbidden'],
    [404, 'not-found'],
    [500, 'server']
  ])('stops polling on a %d and keeps the error', async (status, kind) => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    const scripted = server.route;
    let polls = 0;
    server.route = request => {
      if (request.method === 'GET' && request.endpoint === 'jobs/job1' && ++polls > 1) {
        return { status, json: { message: 'rejected' } };
      }
      return scripted(request);
    };
    model = createModel(server);
    await model.start();
    await waitFor(() => model.error !== null);

    expect(model.error?.kind).toBe(kind);
    expect(model.error?.serverMessage).toBe('rejected');
    expect(model.isPolling).toBe(false);
    expect(model.isJobActive).toBe(false);
    await sleep(FAST_POLL * 5);
    expect(jobPolls(server).length).toBe(2);
  });

  it('shows the error when POST jobs fails', async () => {
    server.route = () => ({ status: 400, json: { message: 'card not found: x.md' } });
    model = createModel(server);
    expect(await model.start()).toBe(false);
    expect(model.error?.kind).toBe('bad-request');
    expect(model.isStarting).toBe(false);
    expect(model.isPolling).toBe(false);
  });

  it('retries transient failures, then gives up', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    const scripted = server.route;
    let polls = 0;
    server.route = request => {
      if (request.method === 'GET' && request.endpoint === 'jobs/job1' && ++polls > 1) {
        return { status: 503, text: 'unavailable' };
      }
      return scripted(request);
    };
    model = createModel(server, { maxRetries: 2 });
    const retries: number[] = [];
    model.stateChanged.connect(() => {
      if (model.retry) {
        retries.push(model.retry.attempt);
      }
    });
    await model.start();
    await waitFor(() => model.error !== null, 5000);

    expect(Array.from(new Set(retries))).toEqual([1, 2]);
    expect(model.error?.status).toBe(503);
    expect(model.retry).toBeNull();
    expect(model.isPolling).toBe(false);
    expect(jobPolls(server).length).toBe(4);
  });

  it('recovers after a transient failure', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 }), makeSnapshot({ seq: 2, state: 'done' })]);
    const scripted = server.route;
    let failed = false;
    server.route = request => {
      if (request.method === 'GET' && !failed && jobPolls(server).length === 2) {
        failed = true;
        throw new TypeError('Failed to fetch');
      }
      return scripted(request);
    };
    model = createModel(server);
    await model.start();
    await waitFor(() => model.job?.state === 'done', 5000);
    expect(model.error).toBeNull();
    expect(model.retry).toBeNull();
  });

  it('stands by while the panel is hidden', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    model = createModel(server);
    await model.start();
    await waitFor(() => jobPolls(server).length >= 1);

    model.isPanelVisible = false;
    await sleep(FAST_POLL * 2);
    const whileHidden = jobPolls(server).length;
    await sleep(FAST_POLL * 6);
    expect(jobPolls(server).length).toBe(whileHidden);
    expect(model.isPolling).toBe(true);

    model.isPanelVisible = true;
    await waitFor(() => jobPolls(server).length > whileHidden);
  });

  it('cancels the job and picks up the cancelled state', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    model = createModel(server);
    await model.start();
    await waitFor(() => jobPolls(server).length >= 1);

    scriptJob(server, [makeSnapshot({ seq: 3, state: 'cancelled' })]);
    await model.cancel();
    await waitFor(() => model.job?.state === 'cancelled');

    expect(server.requests.some(request => request.method === 'DELETE')).toBe(true);
    expect(model.isPolling).toBe(false);
  });

  it('stops polling when disposed', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    model = createModel(server);
    await model.start();
    await waitFor(() => jobPolls(server).length >= 1);

    model.dispose();
    const count = jobPolls(server).length;
    await sleep(FAST_POLL * 5);
    expect(jobPolls(server).length).toBe(count);
    expect(model.isPolling).toBe(false);
  });

  it('refuses a second job while one is active', async () => {
    scriptJob(server, [makeSnapshot({ seq: 1 })]);
    model = createModel(server);
    expect(await model.start()).toBe(true);
    expect(await model.start()).toBe(false);
    expect(server.requests.filter(request => request.method === 'POST').length).toBe(1);
  });
});
