import { INestApplication, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  USAGE_THRESHOLD_EVENT,
  USAGE_THRESHOLD_HANDLER,
  UsageBudgetService,
  UsageService,
  UsageThresholdEvent,
  UsageThresholdHandler,
  UsageThresholdJob,
} from 'nestjs-agent-usage';
import { CapturingLogger, TestClock, bootApp } from './budget-test.helpers';

const levels = (events: UsageThresholdEvent[]) => events.map((e) => e.level);

describe('threshold job: every level fires once per window', () => {
  let app: INestApplication;
  let clock: TestClock;
  let usage: UsageService;
  let job: UsageThresholdJob;
  const emitted: UsageThresholdEvent[] = [];
  const handled: UsageThresholdEvent[] = [];
  const logger = new CapturingLogger();

  @Injectable()
  class ThresholdHandler implements UsageThresholdHandler {
    handle(e: UsageThresholdEvent) {
      handled.push(e);
    }
  }

  beforeAll(async () => {
    clock = new TestClock(new Date('2031-03-10T12:00:00Z'));
    app = await bootApp(
      {
        budgets: [
          { name: 'support-daily', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 1000, levels: [50, 80, 95, 100], actions: ['event', 'log'] },
          { name: 'per-user-cost', scope: 'user', window: 'day', metric: 'cost', limit: '1.00', levels: [100] },
        ],
        scheduler: { cron: '*/10 * * * *', name: 'test-thresholds', coordination: 'memory' },
      },
      { clock, logger, providers: [{ provide: USAGE_THRESHOLD_HANDLER, useClass: ThresholdHandler }] },
    );
    usage = app.get(UsageService);
    job = app.get(UsageThresholdJob);
    app.get(EventEmitter2).on(USAGE_THRESHOLD_EVENT, (e: UsageThresholdEvent) => emitted.push(e));
  });
  afterAll(() => app.close());

  const spend = (tokens: number, extra: object = {}) =>
    usage.record({ agentName: 'support', modelName: 'gpt-4o', inputTokens: tokens, outputTokens: 0, recordedAt: clock.current, ...extra });

  it('registers its cron job through SchedulerRegistry', () => {
    const registry = app.get(SchedulerRegistry);
    expect(registry.doesExist('cron', 'test-thresholds')).toBe(true);
    const cronJob = registry.getCronJob('test-thresholds');
    expect(cronJob.isActive).toBe(true);
    expect(cronJob.cronTime.source).toBe('*/10 * * * *');
  });

  it('fires 50, then 80, then 95 and 100, each once, however often the job runs', async () => {
    spend(550);
    expect(levels((await job.run()).fired)).toEqual([50]);
    expect(levels((await job.run()).fired)).toEqual([]);
    spend(300, { agentName: 'support', modelName: 'gpt-4o-mini' });
    expect(levels((await job.run()).fired)).toEqual([80]);
    // Through the scheduler's own tick as well.
    await app.get(SchedulerRegistry).getCronJob('test-thresholds').fireOnTick();
    spend(150);
    const [a, b] = await Promise.all([job.run(), job.run()]); // overlapping calls join one run
    expect(levels(a.fired)).toEqual([95, 100]);
    expect(b).toBe(a);
    for (let i = 0; i < 3; i++) expect((await job.run()).fired).toEqual([]);

    expect(levels(emitted)).toEqual([50, 80, 95, 100]);
    expect(levels(handled)).toEqual([50, 80, 95, 100]);
    expect(logger.matching('warn', /budget "support-daily" .* reached \d+%/)).toHaveLength(4);
    expect(app.get(UsageBudgetService).getStats().thresholdsFired).toBe(4);
  });

  it('delivers scope, window, limit, used, percent, remaining, projection and top cost drivers', () => {
    const e = emitted[1];
    expect(e).toMatchObject({
      type: 'usage.threshold.crossed',
      id: 'support-daily:*:2031-03-10T00:00:00.000Z:80',
      budget: 'support-daily',
      level: 80,
      scope: { type: 'agent', value: null, match: ['support'] },
      metric: 'tokens',
      window: { type: 'day', timeZone: 'UTC' },
      limit: 1000,
      used: 850,
      remaining: 150,
      percent: 85,
      projection: 1700, // half the day gone: linear projection doubles it
      projectedPercent: 170,
      paused: false,
    });
    expect(e.window.start.toISOString()).toBe('2031-03-10T00:00:00.000Z');
    expect(e.window.end.toISOString()).toBe('2031-03-11T00:00:00.000Z');
    expect(e.resetAt.toISOString()).toBe('2031-03-11T00:00:00.000Z');
    expect(e.topCostDrivers.models.map((m) => [m.key, m.totalTokens])).toEqual([
      ['gpt-4o', 550],
      ['gpt-4o-mini', 300],
    ]);
    expect(e.topCostDrivers.agents.map((m) => m.key)).toEqual(['support']);
  });

  it('fires again in the next window', async () => {
    clock.set('2031-03-11T06:00:00Z');
    spend(600);
    expect(levels((await job.run()).fired)).toEqual([50]);
    expect((await job.run()).fired).toEqual([]);
  });

  it('per-value budgets fire per scope value', async () => {
    usage.record({ agentName: 'support', userId: 'alice', modelName: 'gpt-4o', inputTokens: 1, outputTokens: 1, costNanoUsd: 1_000_000_000, recordedAt: clock.current });
    usage.record({ agentName: 'support', userId: 'bob', modelName: 'gpt-4o', inputTokens: 1, outputTokens: 1, costNanoUsd: 400_000_000, recordedAt: clock.current });
    const fired = (await job.run()).fired;
    expect(fired.map((e) => [e.budget, e.scope.value, e.level, e.usedUsd])).toEqual([['per-user-cost', 'alice', 100, '1.000000000']]);
    const bob = await usage.getBudgetStatus({ name: 'per-user-cost', value: 'bob' });
    expect(bob[0]).toMatchObject({ usedUsd: '0.400000000', remainingUsd: '0.600000000', limitUsd: '1.000000000', percent: 40, projectionUsd: '1.600000000' });
  });

  it('stops its job when the app closes', async () => {
    const registry = app.get(SchedulerRegistry);
    const cronJob = registry.getCronJob('test-thresholds');
    await app.close();
    expect(registry.doesExist('cron', 'test-thresholds')).toBe(false);
    expect(cronJob.isActive).toBe(false);
    app = await bootApp({}); // afterAll closes this one
  });
});

describe('without ScheduleModule', () => {
  it('warns how to fix it, and hard budgets still work', async () => {
    const logger = new CapturingLogger();
    const app = await bootApp(
      { trackUsage: true, budgets: [{ name: 'b', scope: 'global', window: 'day', metric: 'requests', limit: 1, actions: ['log', 'pause'] }] },
      { schedule: false, events: false, logger },
    );
    expect(logger.matching('warn', /import.*ScheduleModule\.forRoot\(\)|ScheduleModule\.forRoot\(\) to your AppModule imports/)).toHaveLength(1);
    const usage = app.get(UsageService);
    usage.record({ agentName: 'x', inputTokens: 1, outputTokens: 1 });
    expect((await usage.getBudgetStatus('b'))[0]).toMatchObject({ used: 1, paused: true });
    // The job can still be run by hand (e.g. from the host's own scheduler).
    expect((await app.get(UsageThresholdJob).run()).fired.map((e) => e.level)).toEqual([80, 100]);
    await app.close();
  });

  it('apps without budgets register nothing', async () => {
    const app = await bootApp({ trackUsage: true });
    expect(app.get(SchedulerRegistry).getCronJobs().size).toBe(0);
    await expect(app.get(UsageService).getBudgetStatus('nope')).rejects.toThrow(/the name of a configured budget \(none configured\)/);
    await app.close();
  });

  it('resolves an onThreshold class registered by the host through ModuleRef', async () => {
    const seen: number[] = [];
    @Injectable()
    class Dep {
      push(n: number) {
        seen.push(n);
      }
    }
    @Injectable()
    class OnThreshold implements UsageThresholdHandler {
      constructor(private readonly dep: Dep) {}
      handle(e: UsageThresholdEvent) {
        this.dep.push(e.level);
      }
    }
    const app = await bootApp(
      { budgets: [{ name: 'r', scope: 'global', window: 'hour', metric: 'requests', limit: 2, levels: [50, 100] }], scheduler: { onThreshold: OnThreshold, enabled: false } },
      { providers: [Dep, OnThreshold] },
    );
    app.get(UsageService).record({ agentName: 'x', requests: 1 });
    await app.get(UsageThresholdJob).run();
    expect(seen).toEqual([50]);
    await app.close();
  });
});
