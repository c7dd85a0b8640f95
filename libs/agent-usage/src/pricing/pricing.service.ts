import { Inject, Injectable, Logger } from '@nestjs/common';
import { DEFAULT_CATEGORY, type UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import type { UsageRecordPricer } from '../record/usage.recorder';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../common/usage.errors';
import { assertTokenRelations, countOf } from '../common/token-counts';
import { nanoUsdToString } from '../query/money';
import { MAX_UNPRICED_MODEL_NAMES } from './pricing.constants';
import { picoToNano } from './price-card';
import { PriceBook, PriceOutcome, PriceQuery } from './price-book';
import type { PricingOptions } from './pricing-options.interface';

/** Token counts to price (inclusive, as on a record: `inputTokens` includes cache reads and writes). */
export interface TokenCountsInput {
  inputTokens?: number | null;
  cachedInputTokens?: number | null;
  cacheWriteTokens?: number | null;
  outputTokens?: number | null;
  reasoningTokens?: number | null;
  /** Model requests these counts stand for (per-request and per-query prices). Default 1. */
  requests?: number;
}

export interface PriceInput extends TokenCountsInput {
  modelName?: string | null;
  providerName?: string | null;
  /** Applies that agent's price (`pricing.agents`). */
  agentName?: string | null;
  /** The operation's category: with `units`, priced by `pricing.operations[category]`. Default "chat". */
  category?: string;
  /** Units of a per-unit operation (images, pages...). Default null (a token call). */
  units?: number | null;
  /** The response carried no usage: the cost is unknown (unless a flat agent price applies). */
  usageMissing?: boolean;
  /** Which prices were in effect. Default now. */
  at?: Date | string | number;
}

export interface PriceQuote {
  /** Integer nano-USD (1e-9 USD); null when unknown. */
  costNanoUsd: number | null;
  /** The same cost as an exact decimal USD string ("0.000123450"); null when unknown. */
  costUsd: string | null;
  /** Which price applied, e.g. `table:@pydantic/genai-prices@0.1.8:openai/gpt-4o`, `override:gpt-4o`, `agent:support`, `operation:image`. */
  priceSource: string | null;
}

export interface UnpricedModel {
  /** `null` counts records without a model name; `'(other)'` the names past the tracked limit. */
  modelName: string | null;
  providerName: string | null;
  /** Records of this model recorded with an unknown cost since start. */
  count: number;
}

const MAX_SAFE_NANO = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Prices every usage record as it is made (the recorder calls `price`), exactly: rates are parsed
 * from decimals to integers, every bucket is multiplied exactly (see costPico), and the sum is rounded half-up to
 * nano-USD once. Also a calculator for callers (`priceOf`, `estimate`), e.g. to reserve a budget.
 */
@Injectable()
export class UsagePricingService implements UsageRecordPricer {
  private readonly logger = new Logger('UsagePricing');
  private readonly book: PriceBook;
  private readonly unpriced = new Map<string, UnpricedModel>();
  private failedOnce = false;
  /** False with `pricing.enabled: false`: the recorder then leaves costs unknown. */
  readonly enabled: boolean;

  constructor(@Inject(USAGE_TRACKING_OPTIONS) options: UsageTrackingModuleOptions) {
    const pricing: PricingOptions = options.pricing ?? {};
    this.book = new PriceBook(pricing);
    this.enabled = pricing.enabled !== false;
  }

  private readonly query1: PriceQuery & { queries: number } = {
    modelName: null,
    providerName: null,
    agentName: null,
    category: '',
    units: null,
    inputTokens: null,
    cachedInputTokens: null,
    cacheWriteTokens: null,
    outputTokens: null,
    reasoningTokens: null,
    requests: 0,
    queries: 0,
    usageMissing: false,
    at: new Date(0),
  };

  /** UsageRecordPricer: runs on the agent's call path, synchronously; never throws. */
  price(record: UsageRecord): { costNanoUsd: number | null; priceSource: string | null } {
    try {
      // One query object refilled per record (the book reads it synchronously and keeps none of it).
      const q = this.query1;
      q.modelName = record.modelName;
      q.providerName = record.providerName;
      q.agentName = record.agentName;
      q.category = record.category;
      q.units = record.units;
      q.inputTokens = record.inputTokens;
      q.cachedInputTokens = record.cachedInputTokens;
      q.cacheWriteTokens = record.cacheWriteTokens;
      q.outputTokens = record.outputTokens;
      q.reasoningTokens = record.reasoningTokens;
      q.requests = record.requests;
      // A record outside any run is a query of its own; in a run, only the agent's first record is.
      q.queries = record.runId === null || record.agentRunStart ? 1 : 0;
      q.usageMissing = record.usageMissing;
      q.at = record.recordedAt;
      const outcome = this.book.price(q);
      if (outcome.kind === 'unknown-model') this.noteUnpriced(record.modelName, record.providerName);
      return this.settle(outcome);
    } catch (err) {
      // A pricing bug must cost the price, never the record.
      if (!this.failedOnce) {
        this.failedOnce = true;
        this.logger.error(`pricing failed; the cost is recorded as unknown: ${(err as Error).message}`, (err as Error).stack);
      }
      return { costNanoUsd: null, priceSource: null };
    }
  }

  /** Cost of one call, as a record would get it. Does not count unknown models. Throws on invalid counts. */
  priceOf(input: PriceInput): PriceQuote {
    const outcome = this.book.price(this.query(input));
    const { costNanoUsd, priceSource } = this.settle(outcome);
    return { costNanoUsd, costUsd: costNanoUsd === null ? null : nanoUsdToString(costNanoUsd), priceSource };
  }

  /** Cost of `counts` on `model`, e.g. the worst case of a call before making it. */
  estimate(
    model: string,
    counts: TokenCountsInput,
    options: { providerName?: string | null; agentName?: string | null; at?: Date | string | number } = {},
  ): PriceQuote {
    return this.priceOf({ ...counts, ...options, modelName: model });
  }

  /** Models recorded without a price since start, most frequent first. */
  getUnpricedModels(): UnpricedModel[] {
    return [...this.unpriced.values()].map((u) => ({ ...u })).sort((a, b) => b.count - a.count);
  }

  private settle(outcome: PriceOutcome): { costNanoUsd: number | null; priceSource: string | null } {
    if (outcome.kind !== 'priced') return { costNanoUsd: null, priceSource: null };
    const nano = picoToNano(outcome.pico);
    if (nano > MAX_SAFE_NANO) {
      throw new RangeError(`cost ${nano} nano-USD from ${outcome.source} exceeds the largest exact number; check that price`);
    }
    return { costNanoUsd: Number(nano), priceSource: outcome.source };
  }

  private noteUnpriced(modelName: string | null, providerName: string | null): void {
    const key = `${providerName ?? ''}\u0000${modelName ?? ''}`;
    let entry = this.unpriced.get(key);
    if (!entry) {
      if (this.unpriced.size >= MAX_UNPRICED_MODEL_NAMES) {
        const other = '\u0000(other)';
        entry = this.unpriced.get(other) ?? { modelName: '(other)', providerName: null, count: 0 };
        this.unpriced.set(other, entry);
      } else {
        entry = { modelName, providerName, count: 0 };
        this.unpriced.set(key, entry);
        this.logger.warn(
          modelName === null
            ? 'a usage record has no model name, so it has no price: its cost is recorded as unknown (null). Pass the model (@TrackUsage({ model }) or record({ modelName })).'
            : `no price for model "${modelName}"${providerName ? ` (provider "${providerName}")` : ''}: its cost is recorded as unknown (null). Add one: pricing.overrides: [{ match: '${modelName}', input: <USD per 1M>, output: <USD per 1M> }]`,
        );
      }
    }
    entry.count++;
  }

  private query(input: PriceInput): PriceQuery {
    if (input === null || typeof input !== 'object') throw new InvalidUsageInputError('input', 'an object', input);
    const inputTokens = countOf('inputTokens', input.inputTokens);
    const cachedInputTokens = countOf('cachedInputTokens', input.cachedInputTokens);
    const cacheWriteTokens = countOf('cacheWriteTokens', input.cacheWriteTokens);
    const outputTokens = countOf('outputTokens', input.outputTokens);
    const reasoningTokens = countOf('reasoningTokens', input.reasoningTokens);
    assertTokenRelations(inputTokens, cachedInputTokens, cacheWriteTokens, outputTokens, reasoningTokens);
    const units = countOf('units', input.units);
    const requests = input.requests ?? 1;
    if (typeof requests !== 'number' || !Number.isSafeInteger(requests) || requests < 0) throw new InvalidUsageInputError('requests', 'a non-negative integer', requests);
    const at = input.at === undefined ? new Date() : new Date(input.at instanceof Date ? input.at.getTime() : input.at);
    if (isNaN(at.getTime())) throw new InvalidUsageInputError('at', 'a valid Date, ISO 8601 string or epoch milliseconds', input.at);
    const text = (field: 'modelName' | 'providerName' | 'agentName' | 'category'): string | null => {
      const v = input[field];
      if (v === undefined || v === null) return null;
      if (typeof v !== 'string' || v.length === 0) throw new InvalidUsageInputError(field, 'a non-empty string (or null)', v);
      return v;
    };
    return {
      modelName: text('modelName'),
      providerName: text('providerName'),
      agentName: text('agentName'),
      category: text('category') ?? DEFAULT_CATEGORY,
      units,
      inputTokens,
      cachedInputTokens,
      cacheWriteTokens,
      outputTokens,
      reasoningTokens,
      requests,
      queries: 1,
      usageMissing: input.usageMissing === true,
      at,
    };
  }
}
