import type { Api } from '../api';
import type { State } from '../state';
import type { Range } from '../types';

/** What every view gets: the API client, the current filters, and where to report the range shown. */
export interface ViewContext {
  api: Api;
  state: State;
  /** Every agent that has usage (for selects), independent of the filter. */
  knownAgents: string[];
  setRange(range: Range): void;
  /** The API's time zone (from the last answer with a range; UTC until one arrived). */
  timeZone(): string;
  /** Re-renders the current view (after a create/delete). */
  refresh(): void;
}

export type View = (panel: HTMLElement, ctx: ViewContext) => Promise<void>;

/** Sets inline sizes through the CSSOM: allowed by a CSP without 'unsafe-inline' (style attributes are not). */
export function setWidth(el: HTMLElement, pct: number): HTMLElement {
  el.style.width = `${Math.max(0, Math.min(100, pct))}%`;
  return el;
}
