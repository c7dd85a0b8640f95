import { calcPrice } from '@pydantic/genai-prices';
import { PRICE_TABLE_ID } from './pricing.constants';
import { cardFromTable, RateCard } from './price-card';

/** One priced candidate for a model name: picks the rate card in effect at an instant, or none. */
export interface PriceCandidate {
  /** Goes into `priceSource`. */
  source: string;
  select(at: Date): RateCard | null;
}

interface TableModel {
  id: string;
  prices: Record<string, unknown> | { constraint?: TableConstraint; prices: Record<string, unknown> }[];
}
type TableConstraint =
  | { type: 'start_date'; start_date: string }
  | { type: 'time_of_date'; start_time: string; end_time: string };

/** `HH:MM:SS[.fff](Z|±HH:MM)` -> seconds after midnight UTC. */
function utcSecondsOfDay(text: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) throw new RangeError(`invalid time of day '${text}'`);
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4] ?? '0'}`);
  const offset = m[5] === 'Z' ? 0 : (m[6] === '+' ? 1 : -1) * (Number(m[7]) * 3600 + Number(m[8]) * 60);
  return (local - offset + 86400) % 86400;
}

type Selector = (at: Date) => RateCard | null;

/**
 * Compiles a table model's prices once. Conditional prices follow the table's rules: the last entry whose
 * constraint holds wins (start dates at midnight UTC, time-of-day windows in UTC), else the first entry.
 */
function compileModel(model: TableModel): Selector {
  if (!Array.isArray(model.prices)) {
    const card = cardFromTable(model.prices);
    return () => card;
  }
  const entries = model.prices.map((e) => {
    const card = cardFromTable(e.prices);
    const c = e.constraint;
    let holds: (at: Date) => boolean = () => true;
    if (c?.type === 'start_date') {
      const from = Date.parse(`${c.start_date}T00:00:00Z`);
      holds = (at) => at.getTime() >= from;
    } else if (c?.type === 'time_of_date') {
      const start = utcSecondsOfDay(c.start_time);
      const end = utcSecondsOfDay(c.end_time);
      holds = (at) => {
        const s = at.getUTCHours() * 3600 + at.getUTCMinutes() * 60 + at.getUTCSeconds() + at.getUTCMilliseconds() / 1000;
        return end < start ? s >= start || s < end : s >= start && s < end;
      };
    } else if (c !== undefined) {
      holds = () => false; // a constraint kind this version does not know: never assume it holds
    }
    return { card, holds };
  });
  return (at) => {
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i].holds(at)) return entries[i].card;
    return entries[0]?.card ?? null;
  };
}

/** Bedrock model ids, optionally with a cross-region prefix: `[us.]anthropic.claude-...-v1:0`. */
const BEDROCK_ID = /^(?:[a-z]{2,6}\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer)\.[^/\s]+$/;

/**
 * The (name, provider) pairs to try, in order, for the names users really have: the name as given (with
 * its provider, then alone: a provider the table does not know, say 'my-proxy', must not hide the model);
 * the Gemini API's `models/gemini-2.5-flash`; gateway-style `openai/gpt-4o`, `gemini/gemini-2.5-flash`
 * (the prefix is tried as the provider, the table knows the usual aliases); Bedrock ids recorded without
 * a provider (`anthropic.claude-sonnet-4-20250514-v1:0`).
 */
function lookupsFor(modelName: string, providerName: string | null): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  const add = (name: string, provider: string | null | undefined) => out.push([name, provider ?? undefined]);
  if (providerName) add(modelName, providerName);
  add(modelName, undefined);
  const bare = modelName.startsWith('models/') ? modelName.slice('models/'.length) : modelName;
  if (bare !== modelName) {
    if (providerName) add(bare, providerName);
    add(bare, undefined);
  }
  const slash = bare.indexOf('/');
  if (slash > 0 && slash < bare.length - 1) {
    const rest = bare.slice(slash + 1);
    add(rest, bare.slice(0, slash).toLowerCase());
    if (providerName) add(rest, providerName);
    add(rest, undefined);
  }
  if (BEDROCK_ID.test(bare)) add(bare, 'bedrock');
  return out;
}

/**
 * The bundled, offline table of @pydantic/genai-prices. Model names are resolved with the package's own
 * matching (provider aliases, fallbacks, date suffixes) once per name; prices are compiled to exact
 * integer rate cards once per table model. The package's float totals are never used.
 */
export class BundledPriceTable {
  private readonly compiled = new WeakMap<object, Selector>();

  /** The table's candidate for this model name, or null when the table does not know it. */
  resolve(modelName: string, providerName: string | null): PriceCandidate | null {
    let hit = null;
    for (const [name, provider] of lookupsFor(modelName, providerName)) if ((hit = this.lookup(name, provider))) break;
    if (!hit) return null;
    const model = hit.model as unknown as TableModel;
    let select = this.compiled.get(model);
    if (!select) {
      select = compileModel(model);
      this.compiled.set(model, select);
    }
    return { source: `table:${PRICE_TABLE_ID}:${hit.provider.id}/${model.id}`, select };
  }

  private lookup(modelName: string, providerId: string | undefined) {
    try {
      // Empty usage: only the match is wanted. calcPrice resolves provider + model exactly as the package does.
      return calcPrice({}, modelName, providerId ? { providerId } : undefined);
    } catch {
      return null; // a malformed table entry must not break recording; the model counts as unpriced
    }
  }
}
