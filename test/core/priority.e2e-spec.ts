import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ShouldTrackUsage,
  TrackUsage,
  TrackUsageCall,
  UsageService,
  UsageTrackingModule,
  UsageTrackingModuleOptions,
} from 'nestjs-agent-usage';

/** A response in OpenAI's shape; the tag lets each call be found again. */
const reply = (tag: string) => ({
  object: 'chat.completion',
  model: 'gpt-4o',
  choices: [],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  tag,
});

type Level = boolean | undefined;
const LEVELS: Level[] = [true, false, undefined];
const label = (l: Level) => (l === undefined ? 'unset' : String(l));

// One class per class-level value; each has one method per method-level value. The class always
// carries `provider: 'openai'` so the provider config applies when neither decorator decides.
@Injectable()
@TrackUsage({ enabled: true, provider: 'openai', agentName: 'class-true' })
class ClassTrue {
  @TrackUsage(true) mTrue() { return reply('m-true'); }
  @TrackUsage(false) mFalse() { return reply('m-false'); }
  mUnset() { return reply('m-unset'); }
}
@Injectable()
@TrackUsage({ enabled: false, provider: 'openai', agentName: 'class-false' })
class ClassFalse {
  @TrackUsage(true) mTrue() { return reply('m-true'); }
  @TrackUsage(false) mFalse() { return reply('m-false'); }
  mUnset() { return reply('m-unset'); }
}
@Injectable()
@TrackUsage({ provider: 'openai', agentName: 'class-unset' })
class ClassUnset {
  @TrackUsage({ enabled: true }) mTrue() { return reply('m-true'); }
  @TrackUsage({ enabled: false }) mFalse() { return reply('m-false'); }
  async mUnset() { return reply('m-unset'); }
}

const CLASSES: [Level, any][] = [[true, ClassTrue], [false, ClassFalse], [undefined, ClassUnset]];
const METHODS: [Level, 'mTrue' | 'mFalse' | 'mUnset'][] = [[true, 'mTrue'], [false, 'mFalse'], [undefined, 'mUnset']];

async function boot(options: UsageTrackingModuleOptions, providers: any[] = CLASSES.map((c) => c[1])): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('tracking priority: method > class > provider config > global config (off by default)', () => {
  for (const provider of LEVELS) {
    for (const global of LEVELS) {
      describe(`provider config ${label(provider)}, global ${label(global)}`, () => {
        let app: INestApplication;
        beforeAll(async () => {
          app = await boot({
            ...(global === undefined ? {} : { trackUsage: global }),
            providers: provider === undefined ? {} : { openai: { trackUsage: provider } },
          });
        });
        afterAll(() => app.close());

        for (const [classLevel, cls] of CLASSES) {
          for (const [methodLevel, method] of METHODS) {
            const expected = methodLevel ?? classLevel ?? provider ?? global ?? false;
            it(`class ${label(classLevel)}, method ${label(methodLevel)} -> ${expected ? 'tracked' : 'not tracked'}`, async () => {
              const usage = app.get(UsageService);
              await usage.clearUsage({}, { all: true });
              await app.get(cls)[method]();
              const total = await usage.getUsageAggregate();
              expect(total.recordCount).toBe(expected ? 1 : 0);
              if (expected) {
                const [rec] = (await usage.getUsage()).items;
                expect(rec).toMatchObject({ agentName: cls.name.replace('Class', 'class-').toLowerCase(), inputTokens: 3, outputTokens: 2 });
              }
            });
          }
        }
      });
    }
  }
});

@Injectable()
@TrackUsage({ agentName: 'picky', provider: 'openai' })
class PickyAgent implements ShouldTrackUsage {
  calls: TrackUsageCall[] = [];
  shouldTrackUsage(call: TrackUsageCall): boolean | undefined {
    this.calls.push(call);
    if (call.args[0] === 'skip') return false;
    if (call.args[0] === 'force') return true;
    return undefined;
  }
  ask(mode: string) { return reply(mode); }
}

describe('per-call decisions', () => {
  it('shouldTrackUsage() beats the decorators and config; undefined keeps the resolved value', async () => {
    const app = await boot({ trackUsage: false }, [PickyAgent]);
    const usage = app.get(UsageService);
    const agent = app.get(PickyAgent);
    await agent.ask('skip');
    await agent.ask('keep'); // resolved: global false
    await agent.ask('force');
    expect((await usage.getUsageAggregate()).recordCount).toBe(1);
    expect(agent.calls.map((c) => [c.args[0], c.resolved, c.method, c.agentName, c.providerName])).toEqual([
      ['skip', false, 'ask', 'picky', 'openai'],
      ['keep', false, 'ask', 'picky', 'openai'],
      ['force', false, 'ask', 'picky', 'openai'],
    ]);
    await app.close();
  });

  it('withTracking(enabled, fn) beats everything for the call chain only', async () => {
    const app = await boot({ trackUsage: true }, [ClassTrue, PickyAgent]);
    const usage = app.get(UsageService);
    await usage.withTracking(false, async () => {
      await app.get(ClassTrue).mTrue();
      await app.get(PickyAgent).ask('force');
      usage.record({ agentName: 'manual', inputTokens: 1, outputTokens: 1 });
    });
    expect((await usage.getUsageAggregate()).recordCount).toBe(0);
    await usage.withTracking(true, () => app.get(ClassTrue).mFalse());
    await usage.withTracking(true, () => app.get(PickyAgent).ask('skip'));
    expect((await usage.getUsageAggregate()).recordCount).toBe(2);
    // Outside the chain the decorators decide again.
    await app.get(ClassTrue).mFalse();
    expect((await usage.getUsageAggregate()).recordCount).toBe(2);
    await app.close();
  });
});

@Injectable()
@TrackUsage({ agentName: 'routed', provider: 'anthropic', storage: 'file' })
class RoutedAgent {
  classLevel() { return reply('class'); }
  @TrackUsage({ storage: ['memory'] }) methodLevel() { return reply('method'); }
}
@Injectable()
@TrackUsage({ enabled: true, agentName: 'by-provider', provider: 'anthropic' })
class ProviderRoutedAgent {
  call() { return reply('provider'); }
}
@Injectable()
@TrackUsage({ enabled: true, agentName: 'by-global', provider: 'openai' })
class GlobalRoutedAgent {
  call() { return reply('global'); }
}

describe('storage priority: method > class > provider config > global config', () => {
  it('routes each record to the resolved drivers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usage-route-'));
    const app = await boot(
      {
        trackUsage: true,
        storage: 'memory',
        file: { directory: dir },
        providers: { anthropic: { storage: ['file', 'memory'] } },
      },
      [RoutedAgent, ProviderRoutedAgent, GlobalRoutedAgent],
    );
    const usage = app.get(UsageService);
    await app.get(RoutedAgent).classLevel(); // class: file only
    await app.get(RoutedAgent).methodLevel(); // method: memory only
    await app.get(ProviderRoutedAgent).call(); // provider config: file + memory
    await app.get(GlobalRoutedAgent).call(); // global: memory
    const memory = (await usage.getUsage()).items.map((r) => `${r.agentName}`).sort();
    const file = (await usage.storage('file').getUsage()).items.map((r) => `${r.agentName}`).sort();
    expect(memory).toEqual(['by-global', 'by-provider', 'routed']);
    expect(file).toEqual(['by-provider', 'routed']);
    expect((await usage.storage('file').getUsage({ agentName: 'routed' })).items[0].modelName).toBe('gpt-4o');
    await app.close();
  });

  it('a decorator naming an unknown driver stops the boot with a clear error', async () => {
    @Injectable()
    @TrackUsage({ storage: 'postgres' })
    class Broken {}
    await expect(boot({}, [Broken])).rejects.toThrow(/Unknown usage storage "postgres" \(in @TrackUsage of Broken\)/);
  });
});
