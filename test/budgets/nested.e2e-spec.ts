import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TrackUsage, UsageBudgetExceededError, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';

/** An agent whose public method calls another tracked method: one admission per outer call. */
@Injectable()
@TrackUsage({ agentName: 'nested' })
class NestedAgent {
  async ask(): Promise<string> {
    const r = await this.complete();
    return String(r.usage.total_tokens);
  }
  async complete() {
    return { object: 'chat.completion', model: 'm', usage: { prompt_tokens: 60, completion_tokens: 40, total_tokens: 100 } };
  }
}

describe('hard budget with nested tracked methods', () => {
  it('admits the outer call once, lets the inner call ride on it, and refuses only when spent', async () => {
    const m = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({
          trackUsage: true,
          budgets: [{ name: 'nested-tokens', scope: 'agent', match: 'nested', window: 'day', metric: 'tokens', limit: 300, actions: ['pause'] }],
        }),
      ],
      providers: [NestedAgent],
    }).compile();
    const app = m.createNestApplication({ logger: false });
    await app.init();
    const agent = app.get(NestedAgent);
    for (let i = 0; i < 3; i++) await expect(agent.ask()).resolves.toBe('100');
    await expect(agent.ask()).rejects.toBeInstanceOf(UsageBudgetExceededError);
    expect((await app.get(UsageService).getUsageAggregate()).totalTokens).toBe(300);
    await app.close();
  });
});
