import { InvalidUsageOptionsError, UsageService } from 'nestjs-agent-usage';
import { FakeProviderServer } from './fake-provider.server';
import { AgentsSdkAgent, AnthropicAgent, bootCaptureApp, CaptureApp, GeminiAgent, OpenAiAgent, OuterAgent } from './capture.agents';
import { Attributed, Expected, expectExact, fromAgentsRun, fromAnthropic, fromAnthropicEvents, fromChat, fromGemini, fromResponse, sumOf, waitForRecords, drain } from './sdk-usage.oracle';

/**
 * Issue 9, items 1-9: each test drives a REAL client SDK against the local fake provider from inside a
 * @TrackUsage agent of a real Nest app, reads the expected counts from what the SDK itself returned, and
 * compares every field of the aggregate and of the group-bys by agent, user, model and provider.
 */
describe('capture from the real SDKs (issue 9, items 1-9)', () => {
  let server: FakeProviderServer;
  let t: CaptureApp;
  beforeAll(async () => (server = await new FakeProviderServer().start()));
  afterAll(() => server.stop());
  afterEach(() => t?.app.close());

  const as = (agent: string, user: string | null, list: Expected[]): Attributed[] => list.map((e) => ({ ...e, agent, user }));
  const asUser = <T>(usage: UsageService, userId: string, fn: () => T): T => usage.runWithContext({ userId }, fn);

  it('1. OpenAI cache writes (chat and responses, JSON and streams) reach cacheWriteTokens', async () => {
    t = await bootCaptureApp(server);
    const a = t.get(OpenAiAgent);
    const exp: Expected[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await asUser(t.usage, 'u1', () => a.chat('gpt-4o-mini'));
      exp.push(fromChat(c.model, c.usage!));
      const chunks = await drain(await asUser(t.usage, 'u1', () => a.chatStream('gpt-4o-mini')));
      const last = chunks.find((ch) => ch.usage);
      exp.push(fromChat(last.model, last.usage));
      const r = await asUser(t.usage, 'u1', () => a.responses('gpt-4.1'));
      exp.push(fromResponse(r));
      const events = await drain(await asUser(t.usage, 'u1', () => a.responsesStream('gpt-4.1')));
      exp.push(fromResponse(events.find((e) => e.type === 'response.completed').response));
    }
    expect(sumOf(exp, 'cacheWrite')).toBeGreaterThan(0);
    await expectExact(t.usage, t.pricing, as('openai-agent', 'u1', exp));
    // Per record too: each request's cache writes, not only the sum.
    const records = (await t.usage.getUsage({ limit: 100 })).items;
    expect(records.map((r) => r.cacheWriteTokens).sort()).toEqual(exp.map((e) => e.cacheWrite).sort());
  });

  it('2. Anthropic thinking tokens (message and message_delta) reach reasoningTokens', async () => {
    t = await bootCaptureApp(server);
    const a = t.get(AnthropicAgent);
    const exp: Expected[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await asUser(t.usage, 'u2', () => a.message('claude-sonnet-4-0'));
      exp.push(fromAnthropic(m.model, m.usage));
      exp.push(fromAnthropicEvents(await drain(await asUser(t.usage, 'u2', () => a.stream('claude-sonnet-4-0')))));
    }
    expect(sumOf(exp, 'reasoning')).toBeGreaterThan(0);
    await expectExact(t.usage, t.pricing, as('claude-agent', 'u2', exp));
  });

  it('3. Agents SDK runs keep cached, cache-write and reasoning tokens (details are arrays in 0.20), one record per request', async () => {
    t = await bootCaptureApp(server);
    const a = t.get(AgentsSdkAgent);
    const exp: Expected[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await asUser(t.usage, 'u3', () => a.tools('add one to 1'));
      expect(result.rawResponses.length).toBe(2); // the tool call, then the answer
      expect(Array.isArray(result.state.usage.inputTokensDetails)).toBe(true);
      exp.push(...fromAgentsRun(result));
    }
    expect(sumOf(exp, 'cached')).toBeGreaterThan(0);
    expect(sumOf(exp, 'cacheWrite')).toBeGreaterThan(0);
    expect(sumOf(exp, 'reasoning')).toBeGreaterThan(0);
    await expectExact(t.usage, t.pricing, as('runner-agent', 'u3', exp));
  });

  it('4. each request keeps its own model: handoffs, Model objects, dated ids the same in plain calls and runs', async () => {
    t = await bootCaptureApp(server);
    const runs = t.get(AgentsSdkAgent);
    const plain = t.get(OpenAiAgent);
    const exp: Attributed[] = [];
    const result = await asUser(t.usage, 'u4', () => runs.handoff('hola'));
    expect(result.lastAgent?.name).toBe('spanish');
    exp.push(...as('runner-agent', 'u4', fromAgentsRun(result)));
    const r = await asUser(t.usage, 'u4', () => plain.responses('gpt-4.1'));
    exp.push(...as('openai-agent', 'u4', [fromResponse(r)]));
    // The triage request was answered by gpt-4.1 (dated), the Spanish one by gpt-4o-mini.
    expect(exp.map((e) => e.model)).toEqual(['gpt-4.1-2025-04-14', 'gpt-4o-mini', 'gpt-4.1-2025-04-14']);
    await expectExact(t.usage, t.pricing, exp);
    const byModel = await t.usage.getUsageGroupedBy('modelName');
    expect(byModel.map((g) => [g.key, g.recordCount]).sort()).toEqual([['gpt-4.1-2025-04-14', 2], ['gpt-4o-mini', 1]]);
  });

  it('5. a tracked method returning another tracked method\'s stream is counted once', async () => {
    t = await bootCaptureApp(server);
    const outer = t.get(OuterAgent);
    const chunks = await drain(await asUser(t.usage, 'u5', () => outer.relayChatStream('gpt-4o-mini')));
    const last = chunks.find((c) => c.usage);
    const helper = await asUser(t.usage, 'u5', () => outer.relayClaudeHelper('claude-sonnet-4-0'));
    const m = await helper.finalMessage();
    const plain = await asUser(t.usage, 'u5', () => outer.relayChat('gpt-4o-mini'));
    // Booked to the agent that called the model, once each, as a relayed plain response already was.
    const exp = [
      ...as('openai-agent', 'u5', [fromChat(last.model, last.usage)]),
      ...as('claude-agent', 'u5', [fromAnthropic(m.model, m.usage)]),
      ...as('openai-agent', 'u5', [fromChat(plain.model, plain.usage!)]),
    ];
    await waitForRecords(t.usage, 3);
    const byAgent = await t.usage.getUsageGroupedBy('agentName');
    expect(byAgent.map((g) => [g.key, g.recordCount]).sort()).toEqual([['claude-agent', 1], ['openai-agent', 2]]);
    await expectExact(t.usage, t.pricing, exp);
  });

  it('6. streamed Agents SDK runs are recorded, one record per request, with each request\'s model', async () => {
    t = await bootCaptureApp(server);
    const a = t.get(AgentsSdkAgent);
    const stream = await asUser(t.usage, 'u6', () => a.handoffStream('hola'));
    const events = await drain(stream);
    await stream.completed;
    const exp = fromAgentsRun(stream, events);
    expect(exp.map((e) => e.model)).toEqual(['gpt-4.1-2025-04-14', 'gpt-4o-mini']);
    expect(stream.rawResponses.length).toBe(2);
    await waitForRecords(t.usage, 2);
    await expectExact(t.usage, t.pricing, as('runner-agent', 'u6', exp));
  });

  it('6. a streamed run that is never iterated is still recorded per request, from the SDK\'s Usage (model unknown: README limit)', async () => {
    t = await bootCaptureApp(server);
    const run = await asUser(t.usage, 'u6', () => t.get(AgentsSdkAgent).toolsStream('add'));
    await run.completed;
    // What the SDK reports per request: its request usage entries (details objects per request).
    const entries = run.state.usage.requestUsageEntries!;
    expect(entries.length).toBe(2);
    await waitForRecords(t.usage, 2);
    const records = (await t.usage.getUsage({ limit: 10 })).items;
    const pick = (r: { inputTokens: number | null; cachedInputTokens: number | null; cacheWriteTokens: number | null; outputTokens: number | null; reasoningTokens: number | null }) =>
      [r.inputTokens, r.cachedInputTokens, r.cacheWriteTokens, r.outputTokens, r.reasoningTokens].join(',');
    expect(records.map(pick).sort()).toEqual(
      entries
        .map((e) => pick({ inputTokens: e.inputTokens, cachedInputTokens: e.inputTokensDetails.cached_tokens, cacheWriteTokens: e.inputTokensDetails.cache_write_tokens, outputTokens: e.outputTokens, reasoningTokens: e.outputTokensDetails.reasoning_tokens }))
        .sort(),
    );
    // The SDK keeps no raw response for streamed requests and the agent's model is a Model object.
    expect(records.map((r) => [r.agentName, r.userId, r.modelName, r.providerName])).toEqual([
      ['runner-agent', 'u6', null, 'openai'],
      ['runner-agent', 'u6', null, 'openai'],
    ]);
  });

  it('7. SDK helper streams consumed only through their final result are recorded exactly once', async () => {
    t = await bootCaptureApp(server);
    const oa = t.get(OpenAiAgent);
    const an = t.get(AnthropicAgent);
    const exp: Expected[] = [];
    const m = await (await asUser(t.usage, 'u7', () => an.helper('claude-sonnet-4-0'))).finalMessage();
    exp.push(fromAnthropic(m.model, m.usage));
    const c = await (await asUser(t.usage, 'u7', () => oa.chatHelper('gpt-4o-mini'))).finalChatCompletion();
    exp.push(fromChat(c.model, c.usage!));
    const r = await (await asUser(t.usage, 'u7', () => oa.responsesHelper('gpt-4.1'))).finalResponse();
    exp.push(fromResponse(r));
    // Iterated AND asked for its final result: still one record each.
    const both = await asUser(t.usage, 'u7', () => an.helper('claude-sonnet-4-0'));
    await drain(both);
    const bm = await both.finalMessage();
    exp.push(fromAnthropic(bm.model, bm.usage));
    const bothChat = await asUser(t.usage, 'u7', () => oa.chatHelper('gpt-4o-mini'));
    await drain(bothChat);
    const bc = await bothChat.finalChatCompletion();
    exp.push(fromChat(bc.model, bc.usage!));
    await waitForRecords(t.usage, exp.length);
    expect((await t.usage.getUsageAggregate()).recordCount).toBe(5);
    await expectExact(
      t.usage,
      t.pricing,
      exp.map((e) => ({ ...e, agent: e.provider === 'anthropic' ? 'claude-agent' : 'openai-agent', user: 'u7' })),
    );
  });

  it('8. Gemini toolUsePromptTokenCount is part of inputTokens: input + output = total', async () => {
    t = await bootCaptureApp(server);
    const g = t.get(GeminiAgent);
    const exp: Expected[] = [];
    for (let i = 0; i < 3; i++) {
      exp.push(fromGemini(await asUser(t.usage, 'u8', () => g.generate('gemini-2.5-flash'))));
      const chunks = await drain(await asUser(t.usage, 'u8', () => g.stream('gemini-2.5-flash')));
      exp.push(fromGemini(chunks[chunks.length - 1]));
    }
    expect(exp.filter((e) => e.input + e.output !== e.total)).toEqual([]);
    const withToolUse = server.ledger.filter((l) => l.api === 'gemini' && l.toolUse > 0).length;
    expect(withToolUse).toBeGreaterThan(0);
    await expectExact(t.usage, t.pricing, as('gemini-agent', 'u8', exp));
    for (const r of (await t.usage.getUsage({ limit: 100 })).items) expect(r.inputTokens! + r.outputTokens!).toBe(r.totalTokens);
  });

  it('9. prices are found for provider-prefixed names, models/..., Bedrock ids and Azure deployments', async () => {
    t = await bootCaptureApp(server, { pricing: { deployments: { 'prod-chat': 'gpt-4o' } } });
    const oa = t.get(OpenAiAgent);
    const an = t.get(AnthropicAgent);
    // Gateways (LiteLLM-style) answer with the provider-prefixed name they were asked for.
    const names = ['openai/gpt-4o', 'anthropic/claude-sonnet-4-20250514', 'gemini/gemini-2.5-flash'];
    for (const name of names) await asUser(t.usage, 'u9', () => oa.chat(name));
    // A Bedrock model id, with no provider declared.
    await asUser(t.usage, 'u9', () => an.message('anthropic.claude-sonnet-4-20250514-v1:0'));
    // The Gemini API's own form, and an Azure deployment name, recorded by hand.
    t.usage.record({ modelName: 'models/gemini-2.5-flash', providerName: 'google', inputTokens: 1000, outputTokens: 100 });
    t.usage.record({ modelName: 'prod-chat', providerName: 'azure', inputTokens: 1000, outputTokens: 100 });
    await waitForRecords(t.usage, 6);
    const agg = await t.usage.getUsageAggregate();
    expect(agg.unpricedCount).toBe(0);
    const items = (await t.usage.getUsage({ limit: 100 })).items;
    const priced = Object.fromEntries(items.map((r) => [r.modelName, r.priceSource]));
    expect(priced).toEqual({
      'openai/gpt-4o': expect.stringMatching(/:openai\/gpt-4o$/),
      'anthropic/claude-sonnet-4-20250514': expect.stringMatching(/:anthropic\/claude-sonnet-4/),
      'gemini/gemini-2.5-flash': expect.stringMatching(/:google\/gemini-2\.5-flash$/),
      'anthropic.claude-sonnet-4-20250514-v1:0': expect.stringMatching(/:aws\/.*anthropic\.claude-sonnet-4-20250514-v1:0$/),
      'models/gemini-2.5-flash': expect.stringMatching(/:google\/gemini-2\.5-flash$/),
      'prod-chat': expect.stringMatching(/:azure\/gpt-4o$/),
    });
    // Priced as the model itself would be.
    for (const r of items) {
      const bare = r.modelName === 'prod-chat' ? 'gpt-4o' : r.modelName!.replace(/^(models|openai|anthropic|gemini)\//, '');
      const quote = t.pricing.priceOf({ ...r, modelName: bare, providerName: r.modelName === 'anthropic.claude-sonnet-4-20250514-v1:0' ? 'bedrock' : r.providerName });
      expect([r.modelName, r.costNanoUsd]).toEqual([r.modelName, quote.costNanoUsd]);
    }
  });

  it('9. the deployment map is validated at boot, naming the field', async () => {
    await expect(bootCaptureApp(server, { pricing: { deployments: { 'prod-chat': '' } } as any })).rejects.toThrow(InvalidUsageOptionsError);
    await expect(bootCaptureApp(server, { pricing: { deployments: { 'prod-chat': 42 } } as any })).rejects.toThrow(/pricing\.deployments\.prod-chat must be the name of the model/);
    await expect(bootCaptureApp(server, { pricing: { deployments: ['gpt-4o'] } as any })).rejects.toThrow(/pricing\.deployments must be an object/);
  });
});
