import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { DEFAULT_POLL_INTERVAL } from './model';

/** Values of `schema/plugin.json`. */
export interface ICardCheckSettings {
  /** LLM provider name; '' leaves the server's provider. */
  provider: string;
  model: string;
  baseUrl: string;
  /** Notebooks read in parallel; 0 leaves the server's setting. */
  workers: number;
  /** Milliseconds between two progress requests. */
  pollInterval: number;
}

/** Reads the settings, replacing values of the wrong type with the defaults. */
export function readSettings(composite: ReadonlyPartialJSONObject): ICardCheckSettings {
  const text = (key: string): string => {
    const value = composite[key];
    return typeof value === 'string' ? value.trim() : '';
  };
  const integer = (key: string, fallback: number): number => {
    const value = composite[key];
    return typeof value === 'number' && Number.isFinite(value)
      ? Math.round(value)
      : fallback;
  };
  return {
    provider: text('provider'),
    model: text('model'),
    baseUrl: text('baseUrl'),
    workers: Math.max(integer('workers', 0), 0),
    pollInterval: Math.max(integer('pollInterval', DEFAULT_POLL_INTERVAL), 200)
  };
}
