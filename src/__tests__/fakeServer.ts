import { ServerConnection } from '@jupyterlab/services';

import type { CardCheckRequestError } from '../api';
import type { IClaim, IJobSnapshot, INotebookProgress } from '../types';

/** One request as the fake server received it. */
export interface IRecordedRequest {
  method: string;
  /** Path below `cardcheck/`, without the query string. */
  endpoint: string;
  query: URLSearchParams;
  body: unknown;
}

/** Response of a fake route: a status and a JSON body, or raw text. */
export interface IFakeResponse {
  status: number;
  json?: unknown;
  text?: string;
}

export type FakeRoute = (request: IRecordedRequest) => IFakeResponse | Promise<IFakeResponse>;

export const BASE_URL = 'http://127.0.0.1:8888/lab-base/';

/**
 * In-memory stand-in for the CardCheck server routes, reached through
 * `ServerConnection.makeRequest` with a custom `fetch`.
 */
export class FakeServer {
  readonly requests: IRecordedRequest[] = [];
  route: FakeRoute = () => ({ status: 404, text: '<html>404</html>' });

  readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings({
    baseUrl: BASE_URL,
    appUrl: BASE_URL + 'lab',
    wsUrl: 'ws://127.0.0.1:8888/lab-base/',
    token: '',
    fetch: (input: RequestInfo | URL) => this._fetch(input as Request)
  });

  private async _fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const prefix = new URL(BASE_URL + 'cardcheck/').pathname;
    if (!url.pathname.startsWith(prefix)) {
      throw new Error(`unexpected URL ${request.url}`);
    }
    const text = await request.text();
    const recorded: IRecordedRequest = {
      method: request.method,
      endpoint: url.pathname.slice(prefix.length),
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined
    };
    this.requests.push(recorded);
    const response = await this.route(recorded);
    const body = response.json !== undefined ? JSON.stringify(response.json) : response.text ?? '';
    return new Response(response.status === 204 ? null : body, {
      status: response.status,
      headers: {
        'Content-Type': response.json !== undefined ? 'application/json' : 'text/html'
      }
    });
  }
}

export function makeNotebook(
  path: string,
  status: INotebookProgress['status'],
  extra: Partial<INotebookProgress> = {}
): INotebookProgress {
  return {
    path,
    status,
    error: '',
    warnings: [],
    notes: [],
    evidence_count: 0,
    seconds: 0,
    ...extra
  };
}

export function makeClaim(id: string, verdict: string, extra: Partial<IClaim> = {}): IClaim {
  return {
    id,
    text: `claim ${id}`,
    line: 1,
    metric: 'accuracy',
    value: 0.87,
    unit: 'fraction',
    decimals: 2,
    tolerance: 0.005,
    relation: '=',
    hedge: '',
    qualifiers: {},
    source: 'prose',
    verdict,
    reason: '',
    evidence: [],
    ...extra
  };
}

export function makeSnapshot(extra: Partial<IJobSnapshot> = {}): IJobSnapshot {
  return {
    id: 'job1',
    state: 'running',
    seq: 1,
    error: null,
    total: 2,
    processed: 0,
    card: 'project/MODEL_CARD.md',
    workspace: 'project',
    notebooks: [],
    claims: [],
    summary: null,
    ...extra
  };
}

/** Resolves once `predicate` is true, checking every 5 ms, or rejects after `timeout` ms. */
export async function waitFor(predicate: () => boolean, timeout = 3000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeout) {
      throw new Error('condition not met in time');
    }
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}

/** Returns the error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<CardCheckRequestError> {
  try {
    await promise;
  } catch (error) {
    return error as CardCheckRequestError;
  }
  throw new Error('expected the promise to reject');
}
