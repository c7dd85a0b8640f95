/**
 * A2A-style routes over HTTP: `@UsageAgentFromParam('agentId')` books every record made while handling a
 * request to the agent in the URL (nested tracked calls and explicit records included), one run per
 * request, concurrency-safe; routes without it keep the tracked classes' names.
 */
import { Controller, Get, Injectable, Param, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { TrackUsage, UsageAgentFromParam, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';

const tick = () => new Promise<void>((r) => setTimeout(r, Math.floor(Math.random() * 5)));
const completion = (input: number) => ({ object: 'chat.completion', model: 'gpt-4o', usage: { prompt_tokens: input, completion_tokens: 7, total_tokens: input + 7 } });

@Injectable()
@TrackUsage({ agentName: 'tool-runner' })
class ToolRunner {
  async run(n: number) {
    await tick();
    return completion(n);
  }
}

@Injectable()
@TrackUsage({ agentName: 'generic-agent' })
class GenericAgent {
  constructor(private readonly tools: ToolRunner, private readonly usage: UsageService) {}
  async answer(n: number) {
    await this.tools.run(n);
    await tick();
    this.usage.record({ modelName: 'web-search', providerName: 'tools', inputTokens: 1, outputTokens: 0 });
    return completion(1000 + n);
  }
}

@Controller('a2a')
@UsageAgentFromParam('agentId')
class A2aController {
  constructor(private readonly agent: GenericAgent) {}
  @Post(':agentId/message/:n')
  async message(@Param('n') n: string) {
    await this.agent.answer(Number(n));
    return { ok: true };
  }
}

@Controller('plain')
class PlainController {
  constructor(private readonly agent: GenericAgent) {}
  @Get(':agentId')
  async get() {
    await this.agent.answer(0);
    return { ok: true };
  }
}

let app: INestApplication;
let usage: UsageService;

beforeAll(async () => {
  const mod = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, pricing: { agents: { 'billing-bot': { costPerQuery: '0.01' } } } })],
    controllers: [A2aController, PlainController],
    providers: [GenericAgent, ToolRunner],
  }).compile();
  app = mod.createNestApplication();
  // One listening server for all requests (supertest would open one per request otherwise).
  await app.listen(0, '127.0.0.1');
  usage = app.get(UsageService);
});
afterAll(() => app.close());

it('books every record of a request to the agent in the URL, one run per request, under concurrency', async () => {
  const agents = ['billing-bot', 'support bot', 'ünï-agent'];
  const calls = Array.from({ length: 30 }, (_, i) => ({ agent: agents[i % 3], n: i }));
  const server = await app.getUrl();
  const replies = await Promise.all(calls.map((c) => request(server).post(`/a2a/${encodeURIComponent(c.agent)}/message/${c.n}`)));
  for (const r of replies) expect(r.status).toBe(201);
  await request(server).get('/plain/ignored-agent').expect(200);
  await usage.flush();

  const byAgent = Object.fromEntries((await usage.getUsageGroupedBy('agentName')).map((g) => [g.key, g]));
  expect(Object.keys(byAgent).sort()).toEqual(['billing-bot', 'generic-agent', 'support bot', 'tool-runner', 'ünï-agent']);
  for (const agent of agents) {
    const mine = calls.filter((c) => c.agent === agent);
    // three records per request (tool call, explicit record, the answer), all under the URL's agent
    expect(byAgent[agent]).toMatchObject({ recordCount: 3 * mine.length, runCount: mine.length, agentRunCount: mine.length });
    expect(byAgent[agent].inputTokens).toBe(mine.reduce((a, c) => a + c.n + 1 + (1000 + c.n), 0));
  }
  // the flat price once per request of that agent
  expect(byAgent['billing-bot'].costNanoUsd).toBe(10 * 10_000_000);
  // without the decorator the classes keep their names (and the request is not forced into one run)
  expect(byAgent['generic-agent'].recordCount).toBe(2);
  expect(byAgent['tool-runner'].recordCount).toBe(1);
  expect(byAgent['ignored-agent']).toBeUndefined();
  // every request's records share one run id
  const page = await usage.getUsage({ agentName: 'support bot', limit: 1000 });
  const runs = new Set(page.items.map((r) => r.runId));
  expect(runs.size).toBe(10);
  for (const run of runs) expect(page.items.filter((r) => r.runId === run)).toHaveLength(3);
});

it('answers 400 naming the parameter when it is not a valid agent name, and records nothing', async () => {
  await usage.clearUsage({}, { all: true });
  const res = await request(await app.getUrl()).post(`/a2a/${'x'.repeat(300)}/message/1`);
  expect(res.status).toBe(400);
  expect(res.body.message).toMatch(/route parameter "agentId" must be an agent name of 1 to 255 characters/);
  await usage.flush();
  expect((await usage.getUsageAggregate()).recordCount).toBe(0);
});
