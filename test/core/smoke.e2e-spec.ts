import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TrackUsage, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';

@Injectable()
@TrackUsage({ agentName: 'support' })
class SupportAgent {
  async respond(q: string) {
    return { object: 'chat.completion', model: 'gpt-4o', choices: [{ message: { content: q } }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } } };
  }
}

it('boots and records', async () => {
  const mod = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ trackUsage: true })], providers: [SupportAgent] }).compile();
  const app = mod.createNestApplication();
  await app.init();
  const usage = app.get(UsageService);
  await usage.runWithContext({ userId: 'u1' }, () => app.get(SupportAgent).respond('hi'));
  const agg = await usage.getUsageAggregate({ agentName: 'support' });
  const page = await usage.getUsage();
  expect(page.items).toHaveLength(1);
  expect(page.items[0]).toMatchObject({ agentName: 'support', userId: 'u1', modelName: 'gpt-4o', providerName: 'openai', cachedInputTokens: 4 });
  expect(agg.inputTokens).toBe(10);
  await app.close();
});
