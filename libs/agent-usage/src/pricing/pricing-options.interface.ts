/** A USD amount as a number (`2.5`) or a decimal string (`'0.075'`); strings avoid any float doubt. */
export type DecimalInput = number | string;

/** USD per 1M tokens, at most 6 decimals. Cache and reasoning rates default to the input/output rate. */
export interface PriceRates {
  /** Input tokens that are neither cache reads nor cache writes. */
  input: DecimalInput;
  /** Cache reads. Default: `input`. */
  cachedInput?: DecimalInput;
  /** Cache writes. Default: `input`. */
  cacheWrite?: DecimalInput;
  /** Output tokens that are not reasoning. */
  output: DecimalInput;
  /** Reasoning tokens. Default: `output`. */
  reasoning?: DecimalInput;
}

/**
 * Long-context tier: when one request's input tokens (cache reads and writes included) are above
 * `aboveInputTokens`, that whole request is billed at these rates. A rate a tier leaves out is taken
 * from the tier below it (the base rates at the bottom).
 */
export interface PriceTier extends Partial<PriceRates> {
  aboveInputTokens: number;
}

/** `{ regex: '^gpt-4o', flags: 'i' }` is the JSON-friendly form of a RegExp. */
export interface RegexMatch {
  regex: string;
  flags?: string;
}

export interface PriceOverride extends PriceRates {
  /**
   * A model name (exact, case-insensitive), a RegExp, or `{ regex }`. Exact names beat regexes; among
   * regexes the first declared that matches wins; every override beats the bundled table.
   */
  match: string | RegExp | RegexMatch;
  /** Only for records of this provider (case-insensitive), e.g. `azure`. Default: any provider. */
  provider?: string;
  tiers?: PriceTier[];
  /**
   * Applies to calls recorded at or after this instant (`'2026-01-01'` means midnight UTC). Several
   * overrides with the same `match` and `provider` form a price history: the latest one in effect wins;
   * before the earliest one, the next matching override or the table prices the call.
   */
  effectiveFrom?: Date | string;
}

/**
 * LiteLLM-style price of an agent, in USD. `costPerQuery` is charged once per run of the agent: on its
 * first record in the run (`agentRunStart`), or on every record made outside any run. The per-token
 * costs apply to every record's inclusive input/output counts; when both kinds are set, both are charged.
 */
export interface AgentPricing {
  costPerQuery?: DecimalInput;
  /** USD per input token (cache reads and writes included), at most 12 decimals. */
  inputCostPerToken?: DecimalInput;
  /** USD per output token (reasoning included), at most 12 decimals. */
  outputCostPerToken?: DecimalInput;
  /** `replace` (default): the agent's price is the whole cost. `add`: it is added to the model's price. */
  mode?: 'replace' | 'add';
}

export interface PricingOptions {
  /** Price every record as it is made. Default true. `UsagePricingService.priceOf()` works either way. */
  enabled?: boolean;
  /** Use the bundled price table (@pydantic/genai-prices) after the overrides. Default true. */
  table?: boolean;
  /** Your prices; they beat the table. */
  overrides?: PriceOverride[];
  /** Prices per agent name (the record's `agentName`). */
  agents?: Record<string, AgentPricing>;
  /**
   * Names that are not model names, mapped to the model they serve, e.g. Azure OpenAI deployment names:
   * `{ 'prod-chat': 'gpt-4o' }`. A record whose model is `prod-chat` is priced as `gpt-4o` (with the
   * record's provider, e.g. `azure`, when the table knows it). Keys match case-insensitively; overrides
   * that name the deployment itself still win. The record keeps the name it was recorded with.
   */
  deployments?: Record<string, string>;
  /**
   * Prices of per-unit operations, in USD per unit (at most 12 decimals), by record `category`: e.g.
   * `{ image: '0.04', 'web-scrape': 0.002 }`. A record of such a category with `units` costs units x price,
   * plus its token cost when it has tokens and its model has a price; `priceSource` is `operation:<category>`.
   */
  operations?: Record<string, DecimalInput>;
  /**
   * What a model without a price costs. Only `'null'`: unknown, never 0. Such models are logged once
   * and listed by `UsagePricingService.getUnpricedModels()`.
   */
  unknownModel?: 'null';
}
