import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  InvalidUsageOptionsError,
  PRICE_TABLE_ID,
  TrackUsage,
  UsagePricingService,
  UsageService,
  UsageTrackingModule,
} from 'nestjs-agent-usage';
import type { PricingOptions } from 'nestjs-agent-usage';

@Injectable()
@TrackUsage({ agentName: 'support' })
class SupportAgent {
  async ask(model: string, prompt: number, cached: number, completion: number) {
    return {
      object: 'chat.completion',
      model,
      choices: [{ message: { role: 'assistant', content: 'ok' } }],
      usage: {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: { cached_tokens: cached },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    };
  }
}

async function boot(pricing: PricingOptions) {
  const mod = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, pricing })],
    providers: [SupportAgent],
  }).compile();
  const app = mod.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('pricing in a booted Nest app', () => {
  it('records exact costs that aggregates and group-bys sum exactly', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await boot({ overrides: [{ match: 'acme-llm', input: '0.1234', output: '0.5678' }] });
    const agent = app.get(SupportAgent);
    const usage = app.get(UsageService);

    await agent.ask('gpt-4o', 1200, 200, 300);
    await agent.ask('gpt-4o', 1200, 200, 300);
    await agent.ask('acme-llm', 1001, 0, 333);
    await agent.ask('mystery-1', 10, 0, 10);

    // gpt-4o (table 2.5 / cache read 1.25 / 10), each call:
    //   1000 x 2.5 x 1000 = 2,500,000;  200 x 1.25 x 1000 = 250,000;  300 x 10 x 1000 = 3,000,000  -> 5,750,000
    // acme-llm (override 0.1234 / 0.5678):
    //   1001 x 0.1234 x 1000 = 123,523.4;  333 x 0.5678 x 1000 = 189,077.4;  sum 312,600.8 -> 312,601 (rounded once)
    // total 2 x 5,750,000 + 312,601 = 11,812,601 nano-USD = $0.011812601; mystery-1 has no price
    const agg = await usage.getUsageAggregate({ agentName: 'support' });
    expect(agg).toMatchObject({ recordCount: 4, costNanoUsd: 11_812_601, costUsd: '0.011812601', unpricedCount: 1 });

    const byModel = await usage.getUsageGroupedBy('modelName');
    const row = (key: string) => byModel.find((g) => g.key === key);
    expect(row('gpt-4o')).toMatchObject({ recordCount: 2, costNanoUsd: 11_500_000, costUsd: '0.011500000', unpricedCount: 0 });
    expect(row('acme-llm')).toMatchObject({ recordCount: 1, costNanoUsd: 312_601, costUsd: '0.000312601', unpricedCount: 0 });
    expect(row('mystery-1')).toMatchObject({ recordCount: 1, costNanoUsd: 0, costUsd: '0.000000000', unpricedCount: 1 });

    const records = (await usage.getUsage({ modelName: 'gpt-4o' })).items;
    expect(records.map((r) => [r.costNanoUsd, r.priceSource])).toEqual([
      [5_750_000, `table:${PRICE_TABLE_ID}:openai/gpt-4o`],
      [5_750_000, `table:${PRICE_TABLE_ID}:openai/gpt-4o`],
    ]);

    const pricing = app.get(UsagePricingService);
    expect(pricing.getUnpricedModels()).toEqual([{ modelName: 'mystery-1', providerName: 'openai', count: 1 }]);
    expect(pricing.estimate('acme-llm', { inputTokens: 1001, outputTokens: 333 }).costNanoUsd).toBe(312_601);
    expect(warn).toHaveBeenCalledTimes(1);

    // A cost the caller supplies is kept as is.
    const kept = usage.record({ agentName: 'billing', modelName: 'gpt-4o', inputTokens: 1, outputTokens: 1, costNanoUsd: 42, priceSource: 'invoice' });
    expect(kept).toMatchObject({ costNanoUsd: 42, priceSource: 'invoice' });
    expect(await usage.getUsageAggregate({ agentName: 'billing' })).toMatchObject({ costNanoUsd: 42, unpricedCount: 0 });
    await app.close();
    warn.mockRestore();
  });

  it('agent prices apply to the agent name the decorator gives', async () => {
    const app = await boot({ agents: { support: { costPerQuery: '0.05' } } });
    await app.get(SupportAgent).ask('gpt-4o', 10, 0, 10);
    const agg = await app.get(UsageService).getUsageAggregate();
    expect(agg).toMatchObject({ costNanoUsd: 50_000_000, costUsd: '0.050000000' });
    await app.close();
  });

  it('enabled: false records unknown costs', async () => {
    const app = await boot({ enabled: false });
    await app.get(SupportAgent).ask('gpt-4o', 10, 0, 10);
    expect(await app.get(UsageService).getUsageAggregate()).toMatchObject({ costNanoUsd: 0, unpricedCount: 1 });
    await app.close();
  });

  it('invalid pricing options stop the boot, naming every bad field', async () => {
    const pricing = {
      overrides: [
        { match: 'gpt-4o', input: -1, output: '0.0000001' },
        { match: '', input: 1, output: 1, inptu: 2 },
      ],
      agents: { bot: { costPerQuery: 'free', mode: 'both' } },
      unknownModel: 0,
    } as unknown as PricingOptions;
    const compiling = Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ trackUsage: true, pricing })] }).compile();
    await expect(compiling).rejects.toThrow(InvalidUsageOptionsError);
    const message = await compiling.catch((e: Error) => e.message);
    expect(message).toContain('pricing.overrides.0.input must be USD per 1M tokens');
    expect(message).toContain('cannot be negative');
    expect(message).toContain('pricing.overrides.0.output must be USD per 1M tokens');
    expect(message).toContain('7 decimals; at most 6');
    expect(message).toContain('pricing.overrides.1.match must be a model name');
    expect(message).toContain('pricing.overrides.1.inptu is not an option');
    expect(message).toContain('pricing.agents.bot.costPerQuery must be a USD amount');
    expect(message).toContain("pricing.agents.bot.mode must be 'replace'");
    expect(message).toContain("pricing.unknownModel must be 'null'");
  });
});
