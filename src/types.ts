/**
 * Shapes of the JSON that the CardCheck server extension sends under
 * `<base_url>/cardcheck/`.
 */

/** Response of `GET cardcheck/version`. */
export interface IServerInfo {
  version: string;
  /** LLM provider the server uses when a job does not name one; "none" turns LLM extraction off. */
  provider: string;
  model: string;
  base_url: string;
  /** Whether the server has an API key for the provider. The key itself is never sent. */
  llm_key_configured: boolean;
  workers: number;
}

export type JobState =
  | 'queued'
  | 'running'
  | 'done'
  | 'failed'
  | 'cancelled'
  | 'interrupted';

/** Job states after which the job's record no longer changes. */
export const FINAL_JOB_STATES: ReadonlySet<string> = new Set([
  'done',
  'failed',
  'cancelled',
  'interrupted'
]);

export type NotebookStatus =
  | 'queued'
  | 'running'
  | 'done'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export interface INotebookProgress {
  /** Notebook path relative to the job's workspace. */
  path: string;
  status: NotebookStatus;
  error: string;
  warnings: string[];
  /** Informational messages, such as "LLM extraction not available: ...". */
  notes: string[];
  evidence_count: number;
  seconds: number;
}

export type Verdict =
  | 'mismatch'
  | 'conflicting'
  | 'unverifiable'
  | 'no_evidence'
  | 'verified';

export type Qualifiers = Partial<
  Record<'split' | 'model' | 'dataset' | 'class' | 'average', string>
>;

export interface IEvidence {
  /** Notebook path relative to the job's workspace. */
  notebook: string;
  /** 0-based index among all cells of the notebook. */
  cell_index: number;
  cell_id: string | null;
  output_index: number;
  metric: string;
  value: number;
  unit: string;
  /** Output text that the value was read from. */
  text: string;
  /** The number as printed in the output, such as "70.3%". */
  token?: string;
  qualifiers?: Qualifiers;
  extractor?: string;
  derived_from?: unknown[] | null;
}

export interface IClaim {
  id: string;
  text: string;
  /** 1-based line in the card. */
  line: number;
  metric: string;
  value: number;
  unit: 'fraction' | 'percent' | 'count' | 'value' | string;
  decimals: number;
  /** Tolerance in the claim's own unit. */
  tolerance: number;
  relation: string;
  hedge?: string;
  qualifiers?: Qualifiers;
  source?: string;
  verdict: Verdict | string;
  reason: string;
  evidence: IEvidence[];
}

/**
 * Response of `GET cardcheck/jobs/{id}`. With `?since=N`, `notebooks` and
 * `claims` contain only the entries that changed after event N.
 */
export interface IJobSnapshot {
  id: string;
  state: JobState;
  /** Number of the last event applied to this snapshot. */
  seq: number;
  error: string | null;
  total: number;
  processed: number;
  /** Card path relative to the server root; empty when the job checked inline text. */
  card: string | null;
  /** Workspace folder relative to the server root; notebook paths are relative to it. */
  workspace: string;
  notebooks: INotebookProgress[];
  claims: IClaim[];
  summary: Record<string, unknown> | null;
}

/** Response of `POST cardcheck/jobs`. */
export interface IJobCreated {
  id: string;
  state: JobState;
  seq: number;
}

/** Body of `POST cardcheck/jobs`; every field but one of `card`/`card_text` is optional. */
export interface IJobRequest {
  card?: string;
  card_text?: string;
  workspace?: string;
  notebooks?: string[];
  provider?: string;
  model?: string;
  base_url?: string;
  workers?: number;
}
