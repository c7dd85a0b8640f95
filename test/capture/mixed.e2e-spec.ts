/**
 * Issue 9: a mixed run of a few hundred calls through every real SDK and every stream form, eight at a
 * time, by several users, then every counter compared exactly: the aggregate and the group-bys by
 * agent, user, model and provider, and per call (each call is its own chat), on the memory driver and on the PostgreSQL driver (own tables,
 * dropped afterwards). The expectation is read from what the SDKs returned; the fake provider's own
 * ledger (what went over the wire) cross-checks that reading.
 */
import { Pool } from 'pg';
import { UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { PG_URL, allTables, uniqueName } from '../database/fixtures/database-test.fixture';
import { FakeProviderServer } from './fake-provider.server';
import { AgentsSdkAgent, AiSdkAgent, AnthropicAgent, bootCaptureApp, CaptureApp, GeminiAgent, OpenAiAgent, OuterAgent } from './capture.agents';
import { Attributed, Expected, expectExact, fromAgentsRun, fromAiStep, fromAnthropic, fromAnthropicEvents, fromChat, fromGemini, fromResponse, expectGroupsMatch, sumOf, waitForRecords, drain } from './sdk-usage.oracle';

const USERS = ['alice', 'bob', 'carol', 'dave'];
const CALLS_PER_FORM = 10;
const CONCURRENCY = 8;

type Form = { name: string; agent: string; call: (t: CaptureApp) => Promise<Expected[]> };

/** A tracked method called the way an app calls it; the returned value is consumed outside the call. */
const lastWithUsage = (chunks: any[]) => chunks.filter((c) => c.usage).pop();

const FORMS: Form[] = [
  { name: 'chat json', agent: 'openai-agent', call: async (t) => [((c) => fromChat(c.model, c.usage!))(await t.get(OpenAiAgent).chat('gpt-4o-mini'))] },
  { name: 'chat stream', agent: 'openai-agent', call: async (t) => [((c) => fromChat(c.model, c.usage))(lastWithUsage(await drain(await t.get(OpenAiAgent).chatStream('gpt-4.1'))))] },
  { name: 'chat helper final', agent: 'openai-agent', call: async (t) => [((c) => fromChat(c.model, c.usage!))(await t.get(OpenAiAgent).chatHelper('gpt-4o-mini').finalChatCompletion())] },
  {
    name: 'chat helper iterated',
    agent: 'openai-agent',
    call: async (t) => {
      const s = t.get(OpenAiAgent).chatHelper('gpt-4.1');
      await drain(s);
      const c = await s.finalChatCompletion();
      return [fromChat(c.model, c.usage!)];
    },
  },
  { name: 'responses json', agent: 'openai-agent', call: async (t) => [fromResponse(await t.get(OpenAiAgent).responses('gpt-4.1'))] },
  {
    name: 'responses stream',
    agent: 'openai-agent',
    call: async (t) => [fromResponse((await drain(await t.get(OpenAiAgent).responsesStream('gpt-4o-mini'))).find((e) => e.type === 'response.completed').response)],
  },
  { name: 'responses helper final', agent: 'openai-agent', call: async (t) => [fromResponse(await t.get(OpenAiAgent).responsesHelper('gpt-4.1').finalResponse())] },
  { name: 'anthropic json', agent: 'claude-agent', call: async (t) => [((m) => fromAnthropic(m.model, m.usage))(await t.get(AnthropicAgent).message('claude-sonnet-4-0'))] },
  { name: 'anthropic stream', agent: 'claude-agent', call: async (t) => [fromAnthropicEvents(await drain(await t.get(AnthropicAgent).stream('claude-sonnet-4-0')))] },
  { name: 'anthropic helper final', agent: 'claude-agent', call: async (t) => [((m) => fromAnthropic(m.model, m.usage))(await t.get(AnthropicAgent).helper('claude-haiku-4-5').finalMessage())] },
  {
    name: 'anthropic helper iterated',
    agent: 'claude-agent',
    call: async (t) => {
      const s = t.get(AnthropicAgent).helper('claude-sonnet-4-0');
      await drain(s);
      const m = await s.finalMessage();
      return [fromAnthropic(m.model, m.usage)];
    },
  },
  { name: 'gemini json', agent: 'gemini-agent', call: async (t) => [fromGemini(await t.get(GeminiAgent).generate('gemini-2.5-flash'))] },
  { name: 'gemini stream', agent: 'gemini-agent', call: async (t) => [fromGemini((await drain(await t.get(GeminiAgent).stream('gemini-2.5-flash'))).pop())] },
  { name: 'agents handoff', agent: 'runner-agent', call: async (t) => fromAgentsRun(await t.get(AgentsSdkAgent).handoff('hola')) },
  { name: 'agents tools', agent: 'runner-agent', call: async (t) => fromAgentsRun(await t.get(AgentsSdkAgent).tools('add')) },
  {
    name: 'agents streamed',
    agent: 'runner-agent',
    call: async (t) => {
      const run = await t.get(AgentsSdkAgent).handoffStream('hola');
      const events = await drain(run);
      await run.completed;
      return fromAgentsRun(run, events);
    },
  },
  ...(['responses', 'chat', 'anthropic'] as const).flatMap((kind): Form[] => {
    const model = kind === 'anthropic' ? 'claude-sonnet-4-0' : 'gpt-4o-mini';
    return [
      { name: `ai generateText ${kind}`, agent: 'vercel-agent', call: async (t) => (await t.get(AiSdkAgent).generate(kind, model)).steps.map(fromAiStep) },
      {
        name: `ai streamText ${kind}`,
        agent: 'vercel-agent',
        call: async (t) => {
          const r = t.get(AiSdkAgent).stream(kind, model);
          await drain(r.textStream);
          return (await r.steps).map(fromAiStep);
        },
      },
    ];
  }),
  { name: 'relayed stream', agent: 'openai-agent', call: async (t) => [((c) => fromChat(c.model, c.usage))(lastWithUsage(await drain(await t.get(OuterAgent).relayChatStream('gpt-4o-mini'))))] },
  { name: 'relayed helper', agent: 'claude-agent', call: async (t) => [((m) => fromAnthropic(m.model, m.usage))(await t.get(OuterAgent).relayClaudeHelper('claude-sonnet-4-0').finalMessage())] },
];

/** Runs `jobs` with at most `n` in flight. */
async function pool<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const k = next++;
        out[k] = await jobs[k]();
      }
    }),
  );
  return out;
}

/**
 * The mixed run on one driver. Returns what it expected (flat, and per outermost call, which is
 * also one run: each call's records share one runId).
 */
async function mixedRun(options: UsageTrackingModuleOptions): Promise<{ expected: Attributed[]; perCall: Attributed[][]; t: CaptureApp; server: FakeProviderServer }> {
  const server = await new FakeProviderServer().start();
  const t = await bootCaptureApp(server, options);
  const jobs: (() => Promise<Attributed[]>)[] = [];
  for (let i = 0; i < CALLS_PER_FORM; i++) {
    for (const [f, form] of FORMS.entries()) {
      const user = USERS[(i + f) % USERS.length];
      const chatName = `call-${jobs.length}`;
      jobs.push(async () => {
        // One chat per call: records made after the call returned (streams, runs) must keep their call's context.
        const list = await t.usage.runWithContext({ userId: user, chatName }, () => form.call(t));
        return list.map((e) => ({ ...e, agent: form.agent, user }));
      });
    }
  }
  const perCall = await pool(CONCURRENCY, jobs);
  const expected = perCall.flat();
  await waitForRecords(t.usage, expected.length);
  return { expected, perCall, t, server };
}

function checkAgainstWire(expected: Expected[], server: FakeProviderServer): void {
  const wire = server.totals();
  expect({
    requests: expected.length,
    input: sumOf(expected, 'input'),
    cached: sumOf(expected, 'cached'),
    cacheWrite: sumOf(expected, 'cacheWrite'),
    output: sumOf(expected, 'output'),
    reasoning: sumOf(expected, 'reasoning'),
  }).toEqual({ requests: wire.requests, input: wire.input, cached: wire.cached, cacheWrite: wire.cacheWrite, output: wire.output, reasoning: wire.reasoning });
}

describe('mixed run through every SDK and stream form', () => {
  it(`memory driver: ${FORMS.length} forms x ${CALLS_PER_FORM}, ${CONCURRENCY} at a time, exact per agent, user, model, provider, call and run`, async () => {
    const { expected, perCall, t, server } = await mixedRun({ storage: 'memory' });
    try {
      expect(expected.length).toBeGreaterThanOrEqual(300);
      checkAgainstWire(expected, server);
      await expectExact(t.usage, t.pricing, expected);
      await expectGroupsMatch(t.usage, t.pricing, 'chatName', perCall);
      await expectGroupsMatch(t.usage, t.pricing, 'runId', perCall);
      expect((await t.usage.getUsageAggregate()).runCount).toBe(perCall.filter((c) => c.length > 0).length);
      expect(t.usage.getRecorderStats().captureErrors).toBe(0);
    } finally {
      await t.app.close();
      await server.stop();
    }
  }, 120_000);

  it('database driver (PostgreSQL): the same run, exact on every counter, per call too', async () => {
    const names = { tableName: uniqueName('cap_l'), rollupTableName: uniqueName('cap_r') };
    try {
      const { expected, perCall, t, server } = await mixedRun({ storage: 'database', database: { url: PG_URL, ...names, autoMigrate: true } });
      try {
        checkAgainstWire(expected, server);
        await expectExact(t.usage, t.pricing, expected);
        await expectGroupsMatch(t.usage, t.pricing, 'chatName', perCall);
        await expectGroupsMatch(t.usage, t.pricing, 'runId', perCall);
        expect((await t.usage.getUsageAggregate()).runCount).toBe(perCall.filter((c) => c.length > 0).length);
      } finally {
        await t.app.close();
        await server.stop();
      }
    } finally {
      const admin = new Pool({ connectionString: PG_URL, max: 1 });
      await admin.query(`DROP TABLE IF EXISTS ${allTables(names).map((n) => `"${n}"`).join(', ')}`);
      await admin.end();
    }
  }, 180_000);
});
