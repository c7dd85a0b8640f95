/**
 * Runs: every outermost tracked call opens a run shared by all records made inside it (nested tracked
 * calls, tool calls), concurrency-safe; runCount / agentRunCount come from the first-record marks; an
 * agent's flat costPerQuery is charged once per run of that agent.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TrackUsage, UsageService, UsageTrackingModule, type UsageRecord } from 'nestjs-agent-usage';

const tick = () => new Promise<void>((r) => setImmediate(r));
const completion = (model: string, input: number, output: number) => ({
  object: 'chat.completion',
  model,
  choices: [{ message: { content: 'ok' } }],
  usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
});

@Injectable()
@TrackUsage({ agentName: 'researcher' })
class Researcher {
  async lookUp(n: number) {
    await tick();
    return completion('gpt-4o-mini', 100 + n, 10);
  }
}

@Injectable()
@TrackUsage({ agentName: 'triage' })
class Triage {
  constructor(private readonly researcher: Researcher, private readonly usage: UsageService) {}

  /** Two model calls of its own, a tool call recorded by hand, and `hops` nested researcher calls. */
  async handle(n: number, hops: number) {
    this.usage.recordResponse(completion('gpt-4o', 1000 + n, 50));
    await tick();
    for (let i = 0; i < hops; i++) await this.researcher.lookUp(i);
    this.usage.record({ modelName: 'web-search', providerName: 'tools', inputTokens: 0, outputTokens: 0 });
    await tick();
    return completion('gpt-4o', 2000 + n, 60);
  }
}

let app: INestApplication;
let usage: UsageService;

beforeAll(async () => {
  const mod = await Test.createTestingModule({
    imports: [
      UsageTrackingModule.forRoot({
        trackUsage: true,
        // Flat agent prices: charged once per run of the agent, whatever its number of model calls.
        pricing: { agents: { triage: { costPerQuery: '0.05' }, researcher: { costPerQuery: '0.002' } } },
      }),
    ],
    providers: [Triage, Researcher],
  }).compile();
  app = mod.createNestApplication();
  await app.init();
  usage = app.get(UsageService);
});
afterAll(() => app.close());
beforeEach(() => usage.clearUsage({}, { all: true }));

async function all(): Promise<UsageRecord[]> {
  await usage.flush();
  return (await usage.getUsage({ limit: 10_000 })).items;
}

it('one run per outermost call, shared by nested calls and tool calls, across 60 concurrent interleaved runs', async () => {
  const triage = app.get(Triage);
  const hops = (n: number) => n % 4; // 0..3 researcher calls per run
  await Promise.all(Array.from({ length: 60 }, (_, n) => usage.runWithContext({ userId: `u${n % 5}` }, () => triage.handle(n, hops(n)))));
  const records = await all();
  // per run: triage's recordResponse, researcher calls, the tool record, triage's own result
  expect(records).toHaveLength(Array.from({ length: 60 }, (_, n) => 3 + hops(n)).reduce((a, b) => a + b, 0));
  const byRun = new Map<string, UsageRecord[]>();
  for (const r of records) {
    expect(r.runId).toEqual(expect.any(String));
    byRun.set(r.runId!, [...(byRun.get(r.runId!) ?? []), r]);
  }
  expect(byRun.size).toBe(60);
  for (const rs of byRun.values()) {
    // All records of a run come from the same call: its triage input tokens carry n.
    const n = rs.find((r) => r.modelName === 'gpt-4o' && r.inputTokens! < 2000)!.inputTokens! - 1000;
    expect(rs).toHaveLength(3 + hops(n));
    expect(new Set(rs.map((r) => r.userId))).toEqual(new Set([`u${n % 5}`]));
    expect(rs.filter((r) => r.agentName === 'researcher')).toHaveLength(hops(n));
    expect(rs.filter((r) => r.runStart)).toHaveLength(1);
    expect(rs.filter((r) => r.agentRunStart).map((r) => r.agentName).sort()).toEqual(hops(n) ? ['researcher', 'triage'] : ['triage']);
  }

  const agg = await usage.getUsageAggregate();
  expect(agg.runCount).toBe(60);
  const researcherRuns = Array.from({ length: 60 }, (_, n) => n).filter((n) => hops(n) > 0).length;
  expect(agg.agentRunCount).toBe(60 + researcherRuns);
  const byAgent = Object.fromEntries((await usage.getUsageGroupedBy('agentName')).map((g) => [g.key, g]));
  expect(byAgent.triage.agentRunCount).toBe(60);
  expect(byAgent.researcher.agentRunCount).toBe(researcherRuns);
  // costPerQuery once per run of each agent (0.05 and 0.002 USD), nothing per extra model call
  expect(byAgent.triage.costNanoUsd).toBe(60 * 50_000_000);
  expect(byAgent.researcher.costNanoUsd).toBe(researcherRuns * 2_000_000);
  expect(agg.costUsd).toBe(((60 * 50_000_000 + researcherRuns * 2_000_000) / 1e9).toFixed(9));

  // runId is a filter and a dimension: one run's totals equal its records
  const [someRun, rs] = [...byRun.entries()][7];
  const one = await usage.getUsageAggregate({ runId: someRun });
  expect(one.recordCount).toBe(rs.length);
  expect(one.inputTokens).toBe(rs.reduce((a, r) => a + (r.inputTokens ?? 0), 0));
  expect(one.runCount).toBe(1);
  const groups = await usage.getUsageGroupedBy('runId');
  expect(groups).toHaveLength(60);
  expect(groups.every((g) => g.runCount === 1)).toBe(true);
  // per user: runs are exact (a run never changes user here)
  for (const g of await usage.getUsageGroupedBy('userId')) expect(g.runCount).toBe(12);
});

it('runWithContext({ runId }) opens that run for calls inside it; record({ runId }) outside any run', async () => {
  const triage = app.get(Triage);
  await usage.runWithContext({ runId: 'conversation-42' }, async () => {
    await triage.handle(1, 1);
    await triage.handle(2, 0); // the same run: not a new one
  });
  usage.record({ agentName: 'batch', runId: 'job-7', runStart: true, agentRunStart: true, inputTokens: 5, outputTokens: 1 });
  usage.record({ agentName: 'batch', runId: 'job-7', inputTokens: 5, outputTokens: 1 });
  usage.record({ agentName: 'loose', inputTokens: 1, outputTokens: 1 }); // no run at all
  // The same conversation reopened later (the next request) is the same run: not started again.
  await usage.runWithContext({ runId: 'conversation-42' }, () => triage.handle(3, 0));
  // Records of a run of your own, outside any run context: the first is marked by the recorder.
  usage.record({ agentName: 'batch', runId: 'job-8', inputTokens: 5, outputTokens: 1 });
  usage.record({ agentName: 'batch', runId: 'job-8', inputTokens: 5, outputTokens: 1 });
  const records = await all();
  const conv = records.filter((r) => r.runId === 'conversation-42');
  expect(conv).toHaveLength(4 + 3 + 3);
  expect(conv.filter((r) => r.runStart)).toHaveLength(1);
  const agg = await usage.getUsageAggregate({ runId: ['conversation-42', 'job-7', 'job-8'] });
  expect(agg).toMatchObject({ recordCount: 14, runCount: 3, agentRunCount: 4 });
  expect(records.filter((r) => r.runId === 'job-8').map((r) => [r.runStart, r.agentRunStart]).sort()).toEqual([[false, false], [true, true]]);
  // triage ran twice inside one run: charged once
  expect((await usage.getUsageAggregate({ runId: 'conversation-42', agentName: 'triage' })).costNanoUsd).toBe(50_000_000);
  const loose = records.find((r) => r.agentName === 'loose')!;
  expect(loose).toMatchObject({ runId: null, runStart: false, agentRunStart: false });
  expect((await usage.getUsageAggregate()).runCount).toBe(3);
});

it('a response recorded outside any run is a run of its own; bad run ids are rejected by name', async () => {
  usage.recordResponse(completion('gpt-4o', 10, 1));
  const [r] = await all();
  expect(r.runId).toEqual(expect.any(String));
  expect(r).toMatchObject({ runStart: true, agentRunStart: true });
  expect(() => usage.runWithContext({ runId: '' }, () => 1)).toThrow(/attribution\.runId/);
  expect(() => usage.record({ runId: 'x'.repeat(300) })).toThrow(/"runId"/);
  await expect(usage.getUsageAggregate({ runId: 5 as unknown as string })).rejects.toThrow(/filters\.runId/);
});
