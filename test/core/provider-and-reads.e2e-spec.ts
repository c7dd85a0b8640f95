/**
 * Where `providerName` and `modelName` come from (README "What is recorded"), `defaultProvider`, and
 * `consistentReads: false` (reads do not wait for this process's buffered writes).
 */
import { Injectable, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MemoryUsageStorage, TrackUsage, UsageRecord, UsageService, UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';

async function boot(options: UsageTrackingModuleOptions, providers: any[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const claude = (model = 'claude-haiku') => ({ type: 'message', role: 'assistant', model, usage: { input_tokens: 5, output_tokens: 2 } });
const openai = (model = 'gpt-4o-2024-08-06') => ({ object: 'chat.completion', model, usage: { prompt_tokens: 3, completion_tokens: 1 } });

@Injectable()
@TrackUsage({ agentName: 'declared', provider: 'azure', model: 'gpt-4o' })
class DeclaredAgent {
  /** Azure answers in OpenAI's shape: the declared provider is who the call is billed by. */
  async openaiShaped() {
    return openai();
  }
  async claudeShaped() {
    return claude();
  }
}

@Injectable()
@TrackUsage({ agentName: 'undeclared' })
class UndeclaredAgent {
  constructor(private readonly usage: UsageService) {}
  async claudeShaped() {
    return claude('claude-sonnet-4');
  }
  async openaiShaped() {
    return openai('gpt-4o-mini');
  }
  /** An explicit record with no provider anywhere. */
  async manual() {
    this.usage.record({ inputTokens: 1, outputTokens: 1, modelName: 'in-house-model' });
    return 'ok';
  }
}

describe('providerName and modelName', () => {
  const rows = async (usage: UsageService) =>
    (await usage.getUsage()).items.map((r: UsageRecord) => [r.agentName, r.providerName, r.modelName]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  it('provider: the decorator, else the response shape, else defaultProvider; model: the response, else the decorator', async () => {
    const app = await boot({ trackUsage: true, defaultProvider: 'acme' }, [DeclaredAgent, UndeclaredAgent]);
    try {
      const usage = app.get(UsageService);
      await app.get(DeclaredAgent).openaiShaped();
      await app.get(DeclaredAgent).claudeShaped();
      await app.get(UndeclaredAgent).claudeShaped();
      await app.get(UndeclaredAgent).openaiShaped();
      await app.get(UndeclaredAgent).manual();
      usage.record({ inputTokens: 1, outputTokens: 1 }); // outside any tracked call
      usage.record({ inputTokens: 1, outputTokens: 1, providerName: 'explicit' }); // the input beats everything
      expect(await rows(usage)).toEqual([
        ['declared', 'azure', 'claude-haiku'],
        ['declared', 'azure', 'gpt-4o-2024-08-06'],
        ['undeclared', 'acme', 'in-house-model'],
        ['undeclared', 'anthropic', 'claude-sonnet-4'],
        ['undeclared', 'openai', 'gpt-4o-mini'],
        [null, 'acme', null],
        [null, 'explicit', null],
      ]);
    } finally {
      await app.close();
    }
  });

  it('without defaultProvider an unknown provider stays null (never guessed)', async () => {
    const app = await boot({ trackUsage: true }, [UndeclaredAgent]);
    try {
      await app.get(UndeclaredAgent).manual();
      expect((await app.get(UsageService).getUsage()).items.map((r) => r.providerName)).toEqual([null]);
    } finally {
      await app.close();
    }
  });
});

/** A memory driver whose writes wait at a gate the test opens: buffered records stay buffered until then. */
class GatedStorage extends MemoryUsageStorage {
  private opened!: () => void;
  private gate = new Promise<void>((r) => (this.opened = r));
  open(): void {
    this.opened();
  }
  override async write(records: readonly UsageRecord[]): Promise<void> {
    await this.gate;
    return super.write(records);
  }
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms).unref())]);

describe('consistentReads', () => {
  it('false: a read answers at once from what the store holds, without waiting for buffered records', async () => {
    const storage = new GatedStorage();
    const app = await boot({ storage, consistentReads: false });
    try {
      const usage = app.get(UsageService);
      usage.record({ agentName: 'a', inputTokens: 10, outputTokens: 5 });
      // The write is stuck at the gate: the read must not wait for it.
      const before = await within(usage.getUsageAggregate(), 5_000, 'the read');
      expect(before.recordCount).toBe(0);
      storage.open();
      await usage.flush();
      expect(await usage.getUsageAggregate()).toMatchObject({ recordCount: 1, totalTokens: 15 });
    } finally {
      storage.open();
      await app.close();
    }
  });

  it('true (the default): a read waits for this process\'s buffered records and includes them', async () => {
    const storage = new GatedStorage();
    const app = await boot({ storage });
    try {
      const usage = app.get(UsageService);
      usage.record({ agentName: 'a', inputTokens: 10, outputTokens: 5 });
      const order: string[] = [];
      const read = usage.getUsageAggregate().then((t) => {
        order.push('read');
        return t;
      });
      await new Promise((r) => setImmediate(r));
      order.push('gate opened');
      storage.open();
      expect(await within(read, 5_000, 'the read')).toMatchObject({ recordCount: 1, totalTokens: 15 });
      expect(order).toEqual(['gate opened', 'read']);
    } finally {
      storage.open();
      await app.close();
    }
  });
});
