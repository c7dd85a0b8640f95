import { MAX_CACHED_MODEL_NAMES, PER_UNIT_DECIMALS } from './pricing.constants';
import { scaleDecimal } from './pricing-decimal.util';
import { AgentCard, agentCard, agentCostPico, cardFromOverride, costPico, PricedCounts, RateCard } from './price-card';
import { BundledPriceTable, PriceCandidate } from './price-table.adapter';
import type { PriceOverride, PricingOptions, RegexMatch } from './pricing-options.interface';

/** What pricing one call gave. Costs are exact pico-USD; the caller rounds once. */
export type PriceOutcome =
  | { kind: 'priced'; pico: bigint; source: string }
  /** The call's usage is unknown (no usage in the response): its cost is unknown. */
  | { kind: 'unknown-usage' }
  /** No price for this model (or no model name): its cost is unknown. */
  | { kind: 'unknown-model' };

export interface PriceQuery extends PricedCounts {
  modelName: string | null;
  providerName: string | null;
  agentName: string | null;
  /** The record's category ("chat" for model calls) and its units (null for token calls). */
  category: string;
  units: number | null;
  usageMissing: boolean;
  at: Date;
}

/** One override group: same match and provider; its versions sorted latest `effectiveFrom` first. */
interface OverrideGroup extends PriceCandidate {
  provider: string | null;
  versions: { from: number; card: RateCard }[];
}

function regexOf(match: RegExp | RegexMatch): RegExp {
  const source = match instanceof RegExp ? match.source : match.regex;
  const flags = match instanceof RegExp ? match.flags : (match.flags ?? '');
  // `g` and `y` make test() stateful (lastIndex): drop them so a match never depends on the last call.
  return new RegExp(source, flags.replace(/[gy]/g, ''));
}

const effectiveMs = (v: Date | string | undefined): number =>
  v === undefined ? Number.NEGATIVE_INFINITY : v instanceof Date ? v.getTime() : Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);

/**
 * Resolves and computes prices. Precedence for a model: exact-name overrides (provider-specific first),
 * then regex overrides in declaration order, then the bundled table. An agent price in `replace` mode
 * beats all of them. Resolution is cached per (provider, model) name; only the effective-date choice and
 * the integer arithmetic run per call.
 */
export class PriceBook {
  private readonly exact = new Map<string, OverrideGroup[]>();
  private readonly regexes: { re: RegExp; group: OverrideGroup }[] = [];
  private readonly agents = new Map<string, AgentCard>();
  private readonly table: BundledPriceTable | null;
  /** By provider name as given, then model name: no key string is built per call (two lookups instead). */
  private readonly cache = new Map<string | null, Map<string, readonly PriceCandidate[]>>();
  private cached = 0;
  private readonly deployments = new Map<string, string>();
  /** pico-USD per unit, by category. */
  private readonly operations = new Map<string, bigint>();

  constructor(options: PricingOptions = {}) {
    this.table = options.table === false ? null : new BundledPriceTable();
    const groups = new Map<string, OverrideGroup>();
    for (const o of options.overrides ?? []) {
      const provider = o.provider ? o.provider.toLowerCase() : null;
      const isExact = typeof o.match === 'string';
      const re = isExact ? null : regexOf(o.match as RegExp | RegexMatch);
      const label = isExact ? (o.match as string) : String(re);
      const key = `${provider ?? ''}\u0000${isExact ? `=${(o.match as string).toLowerCase()}` : `~${label}`}`;
      let group = groups.get(key);
      if (!group) {
        const g: OverrideGroup = {
          source: provider ? `override:${provider}:${label}` : `override:${label}`,
          provider,
          versions: [],
          select: (at) => {
            const t = at.getTime();
            for (const v of g.versions) if (v.from <= t) return v.card;
            return null;
          },
        };
        group = g;
        groups.set(key, g);
        if (re) this.regexes.push({ re, group: g });
        else {
          const name = (o.match as string).toLowerCase();
          const list = this.exact.get(name) ?? [];
          list.push(g);
          // Provider-specific entries first: they are the more specific match.
          list.sort((a, b) => Number(b.provider !== null) - Number(a.provider !== null));
          this.exact.set(name, list);
        }
      }
      group.versions.push({ from: effectiveMs(o.effectiveFrom), card: cardFromOverride(o as PriceOverride) });
      group.versions.sort((a, b) => b.from - a.from);
    }
    for (const [name, a] of Object.entries(options.agents ?? {})) this.agents.set(name, agentCard(name, a));
    for (const [name, model] of Object.entries(options.deployments ?? {})) this.deployments.set(name.toLowerCase(), model);
    for (const [category, usd] of Object.entries(options.operations ?? {})) this.operations.set(category, scaleDecimal(usd, PER_UNIT_DECIMALS));
  }

  /** The ordered candidates for a model name (cached). */
  candidates(modelName: string, providerName: string | null): readonly PriceCandidate[] {
    let byModel = this.cache.get(providerName || null);
    let found = byModel?.get(modelName);
    if (found) return found;
    const provider = providerName ? providerName.toLowerCase() : null;
    const list: PriceCandidate[] = [];
    const fits = (g: OverrideGroup) => g.provider === null || g.provider === provider;
    // A deployment name is priced as the model it serves; overrides naming the deployment come first.
    const served = this.deployments.get(modelName.toLowerCase());
    for (const name of served ? [modelName, served] : [modelName]) {
      for (const g of this.exact.get(name.toLowerCase()) ?? []) if (fits(g) && !list.includes(g)) list.push(g);
      for (const { re, group } of this.regexes) if (fits(group) && re.test(name) && !list.includes(group)) list.push(group);
    }
    const fromTable = this.table?.resolve(served ?? modelName, providerName);
    if (fromTable) list.push(fromTable);
    found = list;
    // Model names can come from responses: bound the cache instead of letting it grow without end.
    if (this.cached >= MAX_CACHED_MODEL_NAMES) {
      this.cache.clear();
      this.cached = 0;
      byModel = undefined;
    }
    if (!byModel) this.cache.set(providerName || null, (byModel = new Map()));
    byModel.set(modelName, found);
    this.cached++;
    return found;
  }

  /** The model's price at `at` (overrides, then table), without agent pricing. */
  modelPrice(modelName: string, providerName: string | null, at: Date): { card: RateCard; source: string } | null {
    for (const c of this.candidates(modelName, providerName)) {
      const card = c.select(at);
      if (card) return { card, source: c.source };
    }
    return null;
  }

  /**
   * Prices one call. The cost is unknown when the usage is (`usageMissing`, or input and output both
   * unknown), except for a flat agent price that needs no counts. A single unknown side counts as 0:
   * it is how responses without that side look (embeddings have no output).
   */
  price(q: PriceQuery): PriceOutcome {
    const usageKnown = !q.usageMissing && (q.inputTokens !== null || q.outputTokens !== null);
    const agent = q.agentName !== null ? this.agents.get(q.agentName) : undefined;
    if (agent && agent.mode === 'replace') {
      const pico = agentCostPico(agent, q, usageKnown);
      return pico === null ? { kind: 'unknown-usage' } : { kind: 'priced', pico, source: `agent:${agent.name}` };
    }
    const perUnit = q.units !== null ? this.operations.get(q.category) : undefined;
    if (perUnit !== undefined) return this.operationPrice(q, perUnit, usageKnown, agent);
    if (!usageKnown) return { kind: 'unknown-usage' };
    const model = q.modelName !== null ? this.modelPrice(q.modelName, q.providerName, q.at) : null;
    if (!model) return { kind: 'unknown-model' };
    const pico = costPico(model.card, q);
    if (!agent) return { kind: 'priced', pico, source: model.source };
    const extra = agentCostPico(agent, q, usageKnown) as bigint; // usage is known here
    return { kind: 'priced', pico: pico + extra, source: `${model.source}+agent:${agent.name}` };
  }

  /**
   * A per-unit operation (`pricing.operations[category]`, the record has units): units x price, plus the
   * token cost when the record has tokens and its model a price (an operation that also ran a model), plus
   * an `add`-mode agent's part. Its cost is known from the units alone.
   */
  private operationPrice(q: PriceQuery, perUnit: bigint, usageKnown: boolean, agent: AgentCard | undefined): PriceOutcome {
    let pico = BigInt(q.units as number) * perUnit;
    let source = `operation:${q.category}`;
    const model = usageKnown && q.modelName !== null ? this.modelPrice(q.modelName, q.providerName, q.at) : null;
    if (model) {
      pico += costPico(model.card, q);
      source += `+${model.source}`;
    }
    const extra = agent ? agentCostPico(agent, q, usageKnown) : null;
    if (agent && extra !== null) {
      pico += extra;
      source += `+agent:${agent.name}`;
    }
    return { kind: 'priced', pico, source };
  }
}
