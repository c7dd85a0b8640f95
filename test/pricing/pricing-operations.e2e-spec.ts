/**
 * Per-operation prices (`pricing.operations`) and the record fields they price (`category`, `units`), in a
 * booted Nest app on the memory driver: exact nano-USD costs, the price source, units summed, the category
 * from record(), @TrackUsage and runWithContext, filters and group-bys on it, and bad input refused.
 */
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InvalidUsageInputError, InvalidUsageOptionsError, TrackUsage, UsagePricingService, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';
import type { PricingOptions } from 'nestjs-agent-usage';

@Injectable()
@TrackUsage({ agentName: 'artist', category: 'image' })
class ArtistAgent {
  constructor(private readonly usage: UsageService) {}
  /** An image made by a tool: recorded by hand, the category comes from the decorator. */
  async draw(n: number) {
    return this.usage.record({ units: n });
  }
  /** A model call inside the same agent: still a chat call when the method says so. */
  @TrackUsage({ category: 'chat' })
  async caption() {
    return { object: 'chat.completion', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 } };
  }
}

const PRICING: PricingOptions = {
  table: false,
  overrides: [{ match: 'gpt-4o', input: '2.5', output: '10' }],
  operations: { image: '0.04', 'web-scrape': 0.002, tiny: '0.000000000001' },
};

async function boot(pricing: PricingOptions) {
  const mod = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, pricing })],
    providers: [ArtistAgent],
  }).compile();
  const app = mod.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('per-operation prices and categories', () => {
  it('prices units exactly, keeps chat calls on token prices, sums units and groups by category', async () => {
    const app = await boot(PRICING);
    try {
      const usage = app.get(UsageService);
      const artist = app.get(ArtistAgent);
      const drawn = await artist.draw(3);
      expect(drawn).toMatchObject({ category: 'image', units: 3, costNanoUsd: 120_000_000, priceSource: 'operation:image', usageMissing: false });
      await artist.caption(); // 1000 x 2.5 + 100 x 10 per 1M = 0.0035 USD
      // runWithContext names the category; record() beats it; a model call with tokens and units adds both.
      const scraped = usage.runWithContext({ category: 'web-scrape', userId: 'u1' }, () => usage.record({ units: 7, agentName: 'crawler' }));
      expect(scraped).toMatchObject({ category: 'web-scrape', costNanoUsd: 14_000_000, priceSource: 'operation:web-scrape' });
      const both = usage.record({ category: 'image', units: 1, modelName: 'gpt-4o', inputTokens: 1000, outputTokens: 0 });
      expect(both).toMatchObject({ costNanoUsd: 40_000_000 + 2_500_000, priceSource: 'operation:image+override:gpt-4o' });
      // 1e-12 USD per unit: rounded once, half-up, to nano-USD.
      expect(usage.record({ category: 'tiny', units: 499 })?.costNanoUsd).toBe(0);
      expect(usage.record({ category: 'tiny', units: 500 })?.costNanoUsd).toBe(1);
      // A category without a price and no tokens: unknown cost, never 0.
      expect(usage.record({ category: 'video', units: 2 })).toMatchObject({ costNanoUsd: null, priceSource: null });
      // A plain record is "chat" with null units.
      expect(usage.record({ modelName: 'gpt-4o', inputTokens: 10, outputTokens: 0 })).toMatchObject({ category: 'chat', units: null });
      await usage.flush();

      const totals = await usage.getUsageAggregate({});
      expect(totals.units).toBe(3 + 7 + 1 + 499 + 500 + 2);
      expect(totals.exact.units).toBe('1012');
      expect(totals.costNanoUsd).toBe(120_000_000 + 3_500_000 + 14_000_000 + 42_500_000 + 0 + 1 + 25_000);
      const byCategory = Object.fromEntries((await usage.getUsageGroupedBy('category')).map((g) => [g.key, [g.recordCount, g.units, g.costNanoUsd]]));
      expect(byCategory).toEqual({
        chat: [2, 0, 3_525_000],
        image: [2, 4, 162_500_000],
        'web-scrape': [1, 7, 14_000_000],
        tiny: [2, 999, 1],
        video: [1, 2, 0],
      });
      const images = await usage.getUsageAggregate({ category: ['image', 'web-scrape'], agentName: 'crawler' });
      expect([images.recordCount, images.units]).toEqual([1, 7]);
      expect((await usage.getUsage({ category: 'image' })).items.map((r) => r.units).sort()).toEqual([1, 3]);
    } finally {
      await app.close();
    }
  });

  it('priceOf takes a category and units; bad ones are refused', () => {
    const pricing = new UsagePricingService({ pricing: PRICING });
    expect(pricing.priceOf({ category: 'image', units: 25 })).toEqual({ costNanoUsd: 1_000_000_000, costUsd: '1.000000000', priceSource: 'operation:image' });
    expect(pricing.priceOf({ category: 'image' }).costNanoUsd).toBeNull(); // no units, no tokens: unknown
    expect(() => pricing.priceOf({ category: 'image', units: -1 })).toThrow(/units/);
    expect(() => pricing.priceOf({ category: 'image', units: 1.5 })).toThrow(InvalidUsageInputError);
    expect(() => pricing.priceOf({ category: '' as string, units: 1 })).toThrow(/category/);
  });

  it('refuses bad categories and units at record() and in @TrackUsage, naming the field', async () => {
    const app = await boot(PRICING);
    try {
      const usage = app.get(UsageService);
      for (const [input, field] of [
        [{ units: -1 }, 'units'],
        [{ units: 2.5 }, 'units'],
        [{ units: 2 ** 53 }, 'units'],
        [{ units: '3' }, 'units'],
        [{ category: '' }, 'category'],
        [{ category: 'a\nb' }, 'category'],
        [{ category: 'x'.repeat(256) }, 'category'],
        [{ category: 42 }, 'category'],
      ] as const) {
        let err: unknown;
        try {
          usage.record(input as never);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidUsageInputError);
        expect((err as InvalidUsageInputError).message).toContain(field);
      }
      expect(() => usage.runWithContext({ category: '' }, () => 1)).toThrow(/attribution\.category/);
      expect(() => TrackUsage({ category: '' })).toThrow(/TrackUsage\.category/);
      await expect(usage.getUsageAggregate({ category: [] as string[] })).rejects.toThrow(/filters\.category/);
    } finally {
      await app.close();
    }
  });

  it('invalid operation prices stop the boot, naming each one', async () => {
    const err = await boot({ operations: { image: -1, scrape: '0.1234567890123', '': 1, ok: '0.5' } as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidUsageOptionsError);
    const message = (err as Error).message;
    expect(message).toMatch(/operations\.image must be the USD price of one unit.*negative/);
    expect(message).toMatch(/operations\.scrape must be .*13 decimals/);
    expect(message).toMatch(/operations must have categories of 1 to 255 characters/);
    expect(message).not.toMatch(/operations\.ok/);
    await expect(boot({ operations: ['image'] as never })).rejects.toThrow(/operations must be an object/);
  });
});
