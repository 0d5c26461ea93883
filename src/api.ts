import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  IJobCreated,
  IJobRequest,
  IJobSnapshot,
  IServerInfo
} from './types';

/** URL segment under the server's base URL that the CardCheck routes live in. */
export const API_NAMESPACE = 'cardcheck';

/**
 * Category of a failed request, chosen so that the panel can name the fix.
 *
 * - `not-enabled`: the `cardcheck` routes do not exist on the server.
 * - `forbidden`: 403, usually a missing XSRF cookie or an expired login.
 * - `not-found`: the route exists but the job or file does not.
 * - `bad-request`: 4xx other than 403/404, such as an invalid path.
 * - `server`: 5xx.
 * - `network`: no HTTP response at all.
 * - `invalid-response`: a 2xx whose body is not the expected JSON.
 */
export type RequestErrorKind =
  | 'not-enabled'
  | 'forbidden'
  | 'not-found'
  | 'bad-request'
  | 'server'
  | 'network'
  | 'invalid-response';

/** A failed call to the CardCheck server API. */
export class CardCheckRequestError extends Error {
  constructor(options: {
    kind: RequestErrorKind;
    endpoint: string;
    status?: number | null;
    serverMessage?: string;
  }) {
    const detail = options.serverMessage || options.kind;
    super(`${options.endpoint}: ${detail}`);
    this.name = 'CardCheckRequestError';
    this.kind = options.kind;
    this.endpoint = options.endpoint;
    this.status = options.status ?? null;
    this.serverMessage = options.serverMessage ?? '';
  }

  readonly kind: RequestErrorKind;
  /** Path below `cardcheck/`, such as `jobs/abc123`. */
  readonly endpoint: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  /** The `message` field of the server's JSON error body, or '' when there was none. */
  readonly serverMessage: string;

  /** Whether retrying the same request later may succeed. */
  get isTransient(): boolean {
    return (
      this.kind === 'network' ||
      this.status === 502 ||
      this.status === 503 ||
      this.status === 504
    );
  }
}

/**
 * Reads the `message` of a Jupyter server JSON error body.
 *
 * Returns null when the body is not JSON or has no message, which is what
 * Tornado's default HTML 404 page looks like.
 */
async function readServerMessage(response: Response): Promise<string | null> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return null;
  }
  try {
    const body = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof body?.message === 'string' && body.message) {
      return body.message;
    }
    if (typeof body?.reason === 'string' && body.reason) {
      return body.reason;
    }
  } catch {
    return null;
  }
  return null;
}

/** Maps a non-2xx response to a typed error. */
export async function errorFromResponse(
  endpoint: string,
  response: Response
): Promise<CardCheckRequestError> {
  const status = response.status;
  const message = await readServerMessage(response);
  let kind: RequestErrorKind;
  if (status === 404) {
    // Every CardCheck handler sends its 404s with a JSON message. A 404
    // without one comes from the server's catch-all handler, so the routes
    // are missing.
    kind = endpoint === 'version' || message === null ? 'not-enabled' : 'not-found';
  } else if (status === 403) {
    kind = 'forbidden';
  } else if (status >= 500) {
    kind = 'server';
  } else {
    kind = 'bad-request';
  }
  return new CardCheckRequestError({
    kind,
    endpoint,
    status,
    serverMessage: message ?? response.statusText ?? ''
  });
}

/**
 * Sends one request to `<base_url>/cardcheck/<endpoint>` and parses the JSON
 * response.
 *
 * @throws {CardCheckRequestError} on a network failure, a non-2xx status or a
 *   2xx body that is not JSON.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new CardCheckRequestError({
      kind: 'network',
      endpoint,
      serverMessage: error instanceof Error ? error.message : String(error)
    });
  }

  if (!response.ok) {
    throw await errorFromResponse(endpoint, response);
  }

  const text = await response.text();
  if (!text) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CardCheckRequestError({
      kind: 'invalid-response',
      endpoint,
      status: response.status,
      serverMessage: text.slice(0, 200)
    });
  }
}

/** Typed calls to the CardCheck server API. */
export class CardCheckClient {
  constructor(settings?: ServerConnection.ISettings) {
    this.serverSettings = settings ?? ServerConnection.makeSettings();
  }

  readonly serverSettings: ServerConnection.ISettings;

  getServerInfo(): Promise<IServerInfo> {
    return requestAPI<IServerInfo>('version', { method: 'GET' }, this.serverSettings);
  }

  startJob(request: IJobRequest): Promise<IJobCreated> {
    return requestAPI<IJobCreated>(
      'jobs',
      {
        method: 'POST',
        body: JSON.stringify(request),
        headers: { 'Content-Type': 'application/json' }
      },
      this.serverSettings
    );
  }

  /** Fetches a job; with `since`, only notebooks and claims changed after that event. */
  getJob(id: string, since?: number): Promise<IJobSnapshot> {
    let endpoint = `jobs/${encodeURIComponent(id)}`;
    if (since !== undefined && since >= 0) {
      endpoint += URLExt.objectToQueryString({ since: String(since) });
    }
    return requestAPI<IJobSnapshot>(endpoint, { method: 'GET' }, this.serverSettings);
  }

  async cancelJob(id: string): Promise<void> {
    await requestAPI<unknown>(
      `jobs/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
      this.serverSettings
    );
  }
}
