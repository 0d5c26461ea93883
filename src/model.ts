import { PathExt } from '@jupyterlab/coreutils';
import { IDisposable } from '@lumino/disposable';
import { IPoll, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { CardCheckClient, CardCheckRequestError } from './api';
import {
  FINAL_JOB_STATES,
  IClaim,
  IJobRequest,
  IJobSnapshot,
  INotebookProgress,
  IServerInfo,
  JobState
} from './types';

/** Order in which verdicts are listed: the ones that need attention first. */
export const VERDICT_ORDER: readonly string[] = [
  'mismatch',
  'conflicting',
  'unverifiable',
  'no_evidence',
  'verified'
];

/** Returns a copy of `claims` sorted by verdict severity, then card line, then id. */
export function sortClaims(claims: Iterable<IClaim>): IClaim[] {
  const rank = (verdict: string): number => {
    const index = VERDICT_ORDER.indexOf(verdict);
    return index === -1 ? VERDICT_ORDER.length : index;
  };
  return Array.from(claims).sort((a, b) => {
    const byVerdict = rank(a.verdict) - rank(b.verdict);
    if (byVerdict !== 0) {
      return byVerdict;
    }
    const byLine = (a.line ?? 0) - (b.line ?? 0);
    if (byLine !== 0) {
      return byLine;
    }
    return String(a.id).localeCompare(String(b.id));
  });
}

/** Origin of the model card in use: the editor, a file dialog or detection. */
export type CardOrigin = 'editor' | 'chosen' | 'detected';

export interface ICardChoice {
  /** Path relative to the server root. */
  path: string;
  origin: CardOrigin;
}

/** The job as the panel shows it: every notebook and claim seen so far. */
export interface IJobView {
  id: string;
  state: JobState;
  seq: number;
  error: string | null;
  total: number;
  processed: number;
  card: string | null;
  workspace: string;
  /** Notebooks in the order the server first listed them. */
  notebooks: INotebookProgress[];
  /** Claims sorted by {@link sortClaims}. */
  claims: IClaim[];
  summary: Record<string, unknown> | null;
}

/**
 * Merges a `GET jobs/{id}?since=N` response into the job seen so far.
 *
 * Notebooks are keyed by path and claims by id, so an entry in `update`
 * replaces the entry with the same key and every other entry is kept.
 * Returns a new object; `previous` is not modified.
 */
export function mergeJobSnapshot(
  previous: IJobView | null,
  update: IJobSnapshot
): IJobView {
  const notebooks = new Map<string, INotebookProgress>();
  const claims = new Map<string, IClaim>();
  if (previous && previous.id === update.id) {
    previous.notebooks.forEach(item => notebooks.set(item.path, item));
    previous.claims.forEach(item => claims.set(item.id, item));
  }
  (update.notebooks ?? []).forEach(item => {
    notebooks.set(item.path, { ...notebooks.get(item.path), ...item });
  });
  (update.claims ?? []).forEach(item => claims.set(item.id, item));

  return {
    id: update.id,
    state: update.state,
    seq: Math.max(update.seq ?? 0, previous?.seq ?? 0),
    error: update.error ?? null,
    total: update.total ?? notebooks.size,
    processed: update.processed ?? 0,
    card: update.card ?? previous?.card ?? null,
    workspace: update.workspace ?? previous?.workspace ?? '',
    notebooks: Array.from(notebooks.values()),
    claims: sortClaims(claims.values()),
    summary: update.summary ?? previous?.summary ?? null
  };
}

/** Job options that come from the user's settings; empty values leave the server's default. */
export interface IJobOverrides {
  provider?: string;
  model?: string;
  baseUrl?: string;
  workers?: number;
}

/** Returns the longest folder that contains every path in `paths` ('' is the server root). */
export function commonFolder(paths: string[]): string {
  if (paths.length === 0) {
    return '';
  }
  const split = paths.map(path => PathExt.dirname(path).split('/').filter(Boolean));
  const first = split[0];
  let length = 0;
  while (
    length < first.length &&
    split.every(parts => parts[length] === first[length])
  ) {
    length++;
  }
  return first.slice(0, length).join('/');
}

/**
 * Builds the `POST jobs` body for a card, optionally restricted to notebooks.
 *
 * The workspace is the card's folder, or the folder that contains both the
 * card and the requested notebooks.
 */
export function buildJobRequest(
  card: string,
  notebooks: string[] | undefined,
  overrides: IJobOverrides
): IJobRequest {
  const request: IJobRequest = { card };
  if (notebooks && notebooks.length > 0) {
    request.notebooks = notebooks;
    request.workspace = commonFolder([card, ...notebooks]);
  } else {
    request.workspace = PathExt.dirname(card);
  }
  if (overrides.provider) {
    request.provider = overrides.provider;
  }
  if (overrides.model) {
    request.model = overrides.model;
  }
  if (overrides.baseUrl) {
    request.base_url = overrides.baseUrl;
  }
  if (overrides.workers && overrides.workers > 0) {
    request.workers = overrides.workers;
  }
  return request;
}

/** A transient failure that the poll is retrying. */
export interface IRetryState {
  attempt: number;
  maxAttempts: number;
  error: CardCheckRequestError;
}

export namespace CardCheckModel {
  export interface IOptions {
    client: CardCheckClient;
    /** Milliseconds between two `GET jobs/{id}` requests while nothing fails. */
    pollInterval?: number;
    /**
     * Ceiling in milliseconds for the backoff after failed requests.
     * `@lumino/polling` 2.x raises a ceiling below 30 s to 30 s.
     */
    maxPollInterval?: number;
    /** Consecutive network or 502/503/504 failures tolerated before polling stops. */
    maxRetries?: number;
  }
}

/** Default milliseconds between two job polls. */
export const DEFAULT_POLL_INTERVAL = 1000;
/** Default ceiling for the poll backoff, in milliseconds. */
export const DEFAULT_MAX_POLL_INTERVAL = 30_000;
/** Default count of consecutive transient failures before polling stops. */
export const DEFAULT_MAX_RETRIES = 4;

/**
 * State of the model card check panel: the card in use, the server's
 * configuration and the running or last job.
 *
 * The model owns the one {@link Poll} that follows a job. The poll asks only
 * for changes since the last event it saw, is on standby while the panel
 * is hidden, and is disposed when the job reaches a final state, when a request
 * fails, or when the model is disposed.
 */
export class CardCheckModel implements IDisposable {
  constructor(options: CardCheckModel.IOptions) {
    this.client = options.client;
    this._pollInterval = options.pollInterval ?? DEFAULT_POLL_INTERVAL;
    this._maxPollInterval = options.maxPollInterval ?? DEFAULT_MAX_POLL_INTERVAL;
    this._maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  }

  readonly client: CardCheckClient;

  /** Emitted after any state change. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Server configuration, or null until `GET version` has succeeded. */
  get serverInfo(): IServerInfo | null {
    return this._serverInfo;
  }

  /** Error of the last failed `GET version`, or null after a success. */
  get serverError(): CardCheckRequestError | null {
    return this._serverError;
  }

  get card(): ICardChoice | null {
    return this._card;
  }

  /** Notebook paths the last job was restricted to, or null for every notebook. */
  get restrictedTo(): string[] | null {
    return this._restrictedTo;
  }

  /** The running or last job, or null before the first one. */
  get job(): IJobView | null {
    return this._job;
  }

  /** Error that stopped starting, following or cancelling the job, or null. */
  get error(): CardCheckRequestError | null {
    return this._error;
  }

  /** The transient failure being retried, or null. */
  get retry(): IRetryState | null {
    return this._retry;
  }

  /** Whether a `POST jobs` request is in flight. */
  get isStarting(): boolean {
    return this._isStarting;
  }

  /**
   * Whether a job is being followed: it has not reached a final state and
   * polling has not stopped on an error.
   */
  get isJobActive(): boolean {
    return (
      this._job !== null &&
      !FINAL_JOB_STATES.has(this._job.state) &&
      this.isPolling
    );
  }

  /** Whether a poll is following the job. */
  get isPolling(): boolean {
    return this._poll !== null && !this._poll.isDisposed;
  }

  get pollInterval(): number {
    return this._pollInterval;
  }

  set pollInterval(value: number) {
    if (!(value > 0) || value === this._pollInterval) {
      return;
    }
    this._pollInterval = value;
    if (this._poll && !this._poll.isDisposed) {
      this._poll.frequency = this._frequency();
    }
  }

  /** Whether the panel is shown; a hidden panel puts the poll on standby. */
  get isPanelVisible(): boolean {
    return this._isPanelVisible;
  }

  set isPanelVisible(value: boolean) {
    if (value === this._isPanelVisible) {
      return;
    }
    this._isPanelVisible = value;
    if (value && this._poll && !this._poll.isDisposed) {
      // Catch up at once rather than waiting for the next standby check.
      void this._poll.refresh();
    }
  }

  setCard(card: ICardChoice | null): void {
    const same =
      card?.path === this._card?.path && card?.origin === this._card?.origin;
    if (same) {
      return;
    }
    this._card = card;
    this._stateChanged.emit();
  }

  /** Fetches `GET version`; a failure is stored in {@link serverError}. */
  async refreshServerInfo(): Promise<void> {
    try {
      const info = await this.client.getServerInfo();
      if (this._isDisposed) {
        return;
      }
      this._serverInfo = info;
      this._serverError = null;
    } catch (error) {
      if (this._isDisposed) {
        return;
      }
      this._serverInfo = null;
      this._serverError = toRequestError(error, 'version');
    }
    this._stateChanged.emit();
  }

  /**
   * Starts a job on the current card and follows it.
   *
   * @param notebooks - restricts the job to these notebooks (paths relative
   *   to the server root); every notebook of the workspace when omitted.
   * @returns whether the server accepted the job.
   */
  async start(
    notebooks?: string[],
    overrides: IJobOverrides = {}
  ): Promise<boolean> {
    if (!this._card || this._isStarting || this.isJobActive) {
      return false;
    }
    this._stopPolling();
    this._isStarting = true;
    this._error = null;
    this._retry = null;
    this._job = null;
    this._restrictedTo = notebooks && notebooks.length > 0 ? notebooks : null;
    this._stateChanged.emit();

    const request = buildJobRequest(this._card.path, notebooks, overrides);
    try {
      const created = await this.client.startJob(request);
      if (this._isDisposed) {
        return false;
      }
      this._job = {
        id: created.id,
        state: created.state,
        seq: -1,
        error: null,
        total: 0,
        processed: 0,
        card: request.card ?? null,
        workspace: request.workspace ?? '',
        notebooks: [],
        claims: [],
        summary: null
      };
      this._startPolling();
      return true;
    } catch (error) {
      if (this._isDisposed) {
        return false;
      }
      this._error = toRequestError(error, 'jobs');
      return false;
    } finally {
      this._isStarting = false;
      if (!this._isDisposed) {
        this._stateChanged.emit();
      }
    }
  }

  /** Asks the server to cancel the job; the poll then picks up the `cancelled` state. */
  async cancel(): Promise<void> {
    const job = this._job;
    if (!job || !this.isJobActive) {
      return;
    }
    try {
      await this.client.cancelJob(job.id);
    } catch (error) {
      if (this._isDisposed || this._job !== job) {
        return;
      }
      const requestError = toRequestError(error, `jobs/${job.id}`);
      if (requestError.kind !== 'not-found') {
        this._fail(requestError);
        return;
      }
    }
    if (this._poll && !this._poll.isDisposed) {
      await this._poll.refresh();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stopPolling();
    Signal.clearData(this);
  }

  private _frequency(): IPoll.Frequency {
    return {
      interval: this._pollInterval,
      backoff: true,
      max: Math.max(this._maxPollInterval, this._pollInterval)
    };
  }

  private _startPolling(): void {
    this._failures = 0;
    this._poll = new Poll({
      name: 'cardcheck-lab:job',
      factory: () => this._fetchJob(),
      frequency: this._frequency(),
      // Poll only while the panel is shown and the browser tab is visible.
      standby: () => (this._isPanelVisible ? 'when-hidden' : true)
    });
  }

  private _stopPolling(): void {
    if (this._poll) {
      this._poll.dispose();
      this._poll = null;
    }
  }

  /** Fetches `GET jobs/{id}?since=N` and merges it; this is the poll's factory. */
  private async _fetchJob(): Promise<void> {
    const job = this._job;
    if (!job) {
      this._stopPolling();
      return;
    }
    const since = job.seq >= 0 ? job.seq : undefined;
    let snapshot: IJobSnapshot;
    try {
      snapshot = await this.client.getJob(job.id, since);
    } catch (error) {
      if (this._isDisposed || this._job !== job) {
        return;
      }
      const requestError = toRequestError(error, `jobs/${job.id}`);
      if (requestError.isTransient && this._failures < this._maxRetries) {
        this._failures++;
        this._retry = {
          attempt: this._failures,
          maxAttempts: this._maxRetries,
          error: requestError
        };
        this._stateChanged.emit();
        // Rejecting makes the poll back off before the next attempt.
        throw requestError;
      }
      this._fail(requestError);
      return;
    }
    if (this._isDisposed || this._job !== job) {
      return;
    }

    this._failures = 0;
    this._retry = null;
    this._job = mergeJobSnapshot(since === undefined ? null : job, snapshot);
    if (FINAL_JOB_STATES.has(this._job.state)) {
      this._stopPolling();
    }
    this._stateChanged.emit();
  }

  /** Stops following the job and shows `error`. */
  private _fail(error: CardCheckRequestError): void {
    this._stopPolling();
    this._retry = null;
    this._error = error;
    this._stateChanged.emit();
  }

  private _card: ICardChoice | null = null;
  private _error: CardCheckRequestError | null = null;
  private _failures = 0;
  private _isDisposed = false;
  private _isPanelVisible = true;
  private _isStarting = false;
  private _job: IJobView | null = null;
  private _maxPollInterval: number;
  private _maxRetries: number;
  private _poll: Poll | null = null;
  private _pollInterval: number;
  private _restrictedTo: string[] | null = null;
  private _retry: IRetryState | null = null;
  private _serverError: CardCheckRequestError | null = null;
  private _serverInfo: IServerInfo | null = null;
  private _stateChanged = new Signal<this, void>(this);
}

/** Wraps anything thrown by a request in a {@link CardCheckRequestError}. */
function toRequestError(error: unknown, endpoint: string): CardCheckRequestError {
  if (error instanceof CardCheckRequestError) {
    return error;
  }
  return new CardCheckRequestError({
    kind: 'network',
    endpoint,
    serverMessage: error instanceof Error ? error.message : String(error)
  });
}
