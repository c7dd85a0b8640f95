/**
 * Every JSON route of UsageApiModule over HTTP on the memory, file, PostgreSQL and Redis drivers, against
 * figures computed here from the data set (api-app.fixture.ts): snake_case keys, `_exact` twins, filters,
 * zero-filled days, percents summing to 100, cursor paging, the invoice, 400s naming the parameter.
 */
import request from 'supertest';
import { API_DRIVERS, ApiApp, DATASET, HTML_AGENT, RANGE, bootApi, sum, tokensOf, usd } from './api-app.fixture';

type Row = (typeof DATASET)[number];

/** Cost per key, highest first (then calls, then key), as the API ranks. */
function ranked(key: (r: Row) => string | null | undefined): { key: string | null; cost: bigint; calls: number; tokens: number }[] {
  const m = new Map<string | null, { key: string | null; cost: bigint; calls: number; tokens: number }>();
  for (const r of DATASET) {
    const k = key(r) ?? null;
    const g = m.get(k) ?? { key: k, cost: 0n, calls: 0, tokens: 0 };
    g.cost += BigInt(r.costNanoUsd);
    g.calls++;
    g.tokens += tokensOf(r);
    m.set(k, g);
  }
  return [...m.values()].sort((a, b) => (a.cost === b.cost ? b.calls - a.calls : a.cost > b.cost ? -1 : 1));
}

/** Half-up integer division of nano-USD. */
const divRound = (a: bigint, b: bigint): bigint => (a * 2n + b) / (2n * b);

/** Every key of an answer, deep (record metadata excluded: it is the user's data). */
function keysOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => keysOf(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      if (k !== 'metadata') keysOf(x, out);
    }
  }
  return out;
}

const TOTAL = BigInt(sum(DATASET, 'costNanoUsd'));

describe.each(API_DRIVERS)('UsageApiModule routes on the %s driver', (driver) => {
  let api: ApiApp;
  const get = (path: string) => request(api.http).get(`/agent-usage/${path}`);

  beforeAll(async () => {
    api = await bootApi(driver, { public: true });
  }, 60_000);
  afterAll(() => api?.close());

  it('GET usage: the summary of the range, snake_case, with exact twins', async () => {
    const { body } = await get(`usage?${RANGE}`).expect(200);
    expect(body.range).toMatchObject({ period: 'custom', start_date: '2026-11-01', end_date: '2026-11-30', time_zone: 'UTC', week_starts_on: 'monday' });
    expect(body.amount_spent_exact).toBe(usd(TOTAL));
    expect(body.amount_spent).toBe(Number(usd(TOTAL)));
    expect(body.operation_count).toBe(DATASET.length);
    expect(body.input_tokens).toBe(sum(DATASET, 'inputTokens'));
    expect(body.output_tokens).toBe(sum(DATASET, 'outputTokens'));
    expect(body.total_tokens).toBe(sum(DATASET, 'inputTokens') + sum(DATASET, 'outputTokens'));
    expect(body.cached_tokens).toBe(sum(DATASET, 'cachedInputTokens'));
    expect(body.reasoning_tokens).toBe(sum(DATASET, 'reasoningTokens'));
    expect(body.avg_cost_per_operation_exact).toBe(usd(divRound(TOTAL, BigInt(DATASET.length))));
    const ok = DATASET.filter((r) => r.success !== false).length;
    expect(body.success_rate).toBe(Math.round((ok / DATASET.length) * 10000) / 100);
    const models = ranked((r) => r.modelName);
    expect(body.top_models.map((m: { model: string }) => m.model)).toEqual(models.map((m) => m.key));
    const providerOfTop = DATASET.find((r) => r.modelName === models[0].key)!.providerName;
    expect(body.top_models[0]).toEqual({ model: models[0].key, provider: providerOfTop, cost: Number(usd(models[0].cost)), cost_exact: usd(models[0].cost), calls: models[0].calls, tokens: models[0].tokens });
    expect(keysOf(body).filter((k) => /[A-Z]/.test(k))).toEqual([]);
  });

  it('GET usage?period=all_time: every record, the range starting on the first day with usage', async () => {
    const { body } = await get('usage?period=all_time').expect(200);
    expect(body.operation_count).toBe(DATASET.length);
    expect(body.range).toMatchObject({ period: 'all_time', start_date: DATASET.map((r) => r.recordedAt.slice(0, 10)).sort()[0] });
  });

  it('GET usage: agent filters, repeated or comma-separated', async () => {
    const support = DATASET.filter((r) => r.agentName === 'support');
    const repeated = await get(`usage?${RANGE}&agent=support&agent=nobody`).expect(200);
    expect(repeated.body.operation_count).toBe(support.length);
    expect(repeated.body.amount_spent_exact).toBe(usd(sum(support, 'costNanoUsd')));
    const withSales = DATASET.filter((r) => r.agentName === 'support' || r.agentName === HTML_AGENT);
    const comma = await get(`usage?${RANGE}&agent=support,${encodeURIComponent(HTML_AGENT)}`).expect(200);
    expect(comma.body.operation_count).toBe(withSales.length);
    const byModel = await get(`usage?${RANGE}&model=gpt-4o&user=u1`).expect(200);
    expect(byModel.body.operation_count).toBe(DATASET.filter((r) => r.modelName === 'gpt-4o' && r.userId === 'u1').length);
  });

  it('GET usage/breakdown: one list named after the dimension, ranked, percents summing to 100', async () => {
    for (const [groupBy, list, key] of [
      ['agent', 'agents', (r: Row) => r.agentName],
      ['user', 'users', (r: Row) => r.userId],
      ['provider', 'providers', (r: Row) => r.providerName],
      ['category', 'categories', (r: Row) => r.category ?? 'chat'],
    ] as const) {
      const { body } = await get(`usage/breakdown?${RANGE}&group_by=${groupBy}`).expect(200);
      const want = ranked(key);
      expect(body.group_by).toBe(groupBy);
      expect(body.total_exact).toBe(usd(TOTAL));
      expect(body[list].map((x: { key: string }) => x.key)).toEqual(want.map((w) => w.key));
      for (const [i, w] of want.entries()) {
        expect(body[list][i]).toMatchObject({ cost_exact: usd(w.cost), cost: Number(usd(w.cost)), calls: w.calls, tokens: w.tokens, avg_per_call_exact: usd(divRound(w.cost, BigInt(w.calls))) });
      }
      const percents = body[list].map((x: { percent: number }) => x.percent) as number[];
      expect(Math.round(percents.reduce((a, b) => a + b, 0) * 100)).toBe(10000);
    }
  });

  it('GET analytics: every day of the range (zeros included), summary, hourly pattern, series', async () => {
    const { body } = await get(`analytics?${RANGE}&group_by=hour&split_by=agent`).expect(200);
    expect(body.daily_usage).toHaveLength(30);
    const perDay = new Map<string, bigint>();
    for (const r of DATASET) perDay.set(r.recordedAt.slice(0, 10), (perDay.get(r.recordedAt.slice(0, 10)) ?? 0n) + BigInt(r.costNanoUsd));
    for (const d of body.daily_usage) {
      expect(d.cost_exact).toBe(usd(perDay.get(d.date) ?? 0n));
      expect(d.operations).toBe(DATASET.filter((r) => r.recordedAt.startsWith(d.date)).length);
    }
    expect(body.daily_usage.filter((d: { operations: number }) => d.operations === 0)).toHaveLength(30 - perDay.size);
    const peak = [...perDay].sort((a, b) => (a[1] > b[1] ? -1 : 1))[0];
    expect(body.summary).toMatchObject({ total_exact: usd(TOTAL), operations: DATASET.length, daily_average_exact: usd(divRound(TOTAL, 30n)) });
    expect(body.summary.peak_day).toEqual({ date: peak[0], cost: Number(usd(peak[1])), cost_exact: usd(peak[1]) });
    expect(body.hourly_usage).toHaveLength(24);
    const at12 = DATASET.filter((r) => r.recordedAt.slice(11, 13) === '12');
    expect(body.hourly_usage[12].avg_cost_exact).toBe(usd(divRound(BigInt(sum(at12, 'costNanoUsd')), 30n)));
    expect(body.series.map((s: { key: string }) => s.key).sort()).toEqual([...new Set(DATASET.map((r) => r.agentName))].sort());
  });

  it('GET fleet: every agent with spend and operations; no budget, no status', async () => {
    const { body } = await get(`fleet?${RANGE}`).expect(200);
    const want = ranked((r) => r.agentName);
    expect(body.agents.map((a: { name: string }) => a.name)).toEqual(want.map((w) => w.key));
    for (const [i, w] of want.entries()) {
      expect(body.agents[i]).toMatchObject({ spent_exact: usd(w.cost), operations: w.calls, budget: null, budget_exact: null, status: null });
    }
    expect(body.totals).toMatchObject({ spent_exact: usd(TOTAL), operations: DATASET.length, agents: want.length });
    expect(body.totals.status_counts).toEqual({ low: 0, normal: 0, warning: 0, critical: 0, no_budget: want.length });
  });

  it('GET logs: newest first, cursor pages, cost per record, metadata as recorded', async () => {
    const newest = [...DATASET].sort((a, b) => (a.recordedAt < b.recordedAt ? 1 : -1));
    const seen: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await get(`logs?${RANGE}&limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).expect(200);
      expect(res.body.limit).toBe(4);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      seen.push(...res.body.items);
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.map((i) => i.id)).toEqual(newest.map((r) => r.id));
    for (const item of seen) {
      const r = DATASET.find((x) => x.id === item.id)!;
      expect(item).toMatchObject({ agent_name: r.agentName, model_name: r.modelName, recorded_at: r.recordedAt, cost_exact: usd(r.costNanoUsd), cost: Number(usd(r.costNanoUsd)) });
    }
    // The user's metadata keeps its own keys (not converted to snake_case).
    expect(seen.find((i) => i.id === 'api-4')!.metadata).toEqual(DATASET[3].metadata);
  });

  it('GET invoice: a line per chat model and per operation category, subtotal and total exact', async () => {
    const { body } = await get('invoice?month=2026-11').expect(200);
    expect(body).toMatchObject({ period_start: '2026-11-01', period_end: '2026-11-30', currency: 'USD', subtotal_exact: usd(TOTAL), discount_percent: 0, total_exact: usd(TOTAL) });
    const lines = body.line_items as { category: string; description: string; cost_exact: string; usage: number; unit: string }[];
    const chat = ranked((r) => (r.category === undefined ? r.modelName : null)).filter((m) => m.key !== null);
    for (const m of chat) {
      const line = lines.find((l) => l.category === 'chat' && l.description.includes(m.key!));
      expect(line).toMatchObject({ cost_exact: usd(m.cost), usage: m.tokens, unit: 'tokens' });
    }
    const images = DATASET.filter((r) => r.category === 'image');
    expect(lines.find((l) => l.category === 'image')).toMatchObject({ usage: sum(images, 'units'), unit: 'units', cost_exact: usd(sum(images, 'costNanoUsd')) });
    expect(lines).toHaveLength(chat.length + 1);
    expect(lines.reduce((a, l) => a + BigInt(l.cost_exact.replace('.', '')), 0n)).toBe(TOTAL);
    const support = await get('invoice?month=2026-11&agent=support').expect(200);
    expect(support.body.subtotal_exact).toBe(usd(sum(DATASET.filter((r) => r.agentName === 'support'), 'costNanoUsd')));
  });

  it('POST, GET, DELETE alerts: stored by this driver set-up (PostgreSQL, Redis or memory), listed, deleted', async () => {
    const body = { agent: 'support', daily_budget: 2.5, alerts: [{ percent: 90, action: 'pause_agent' }] };
    const created = await request(api.http).post('/agent-usage/alerts').send(body).expect(201);
    expect(created.body).toMatchObject({ agent_name: 'support', alerts: body.alerts, paused: false });
    const listed = await get('alerts').expect(200);
    expect(listed.body.map((a: { id: string }) => a.id)).toContain(created.body.id);
    await request(api.http).delete(`/agent-usage/alerts/${encodeURIComponent(created.body.id)}`).expect(204);
    expect((await get('alerts').expect(200)).body.map((a: { id: string }) => a.id)).not.toContain(created.body.id);
  });

  it('400s name the parameter the client sent', async () => {
    const cases: [string, string][] = [
      ['usage?period=decade', 'period'],
      ['usage?start_date=2026-11', 'start_date'],
      ['usage?start_date=2026-02-30&end_date=2026-03-01', 'start_date'],
      ['usage?agent=', 'agent'],
      ['usage?foo=1', 'foo'],
      ['usage/breakdown?group_by=color', 'group_by'],
      ['analytics?split_by=user', 'split_by'],
      ['logs?limit=0', 'limit'],
      ['logs?limit=ten', 'limit'],
      ['usage/export?format=xml', 'format'],
      ['invoice', 'month'],
      ['invoice?month=2026-13', 'month'],
    ];
    for (const [path, field] of cases) {
      const res = await get(path);
      expect({ path, status: res.status, field: res.body.field }).toEqual({ path, status: 400, field });
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(typeof res.body.message).toBe('string');
    }
  });
});

describe('days follow the module time zone over HTTP', () => {
  const timeZone = 'America/New_York';
  const localDay = (iso: string) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
  let api: ApiApp;
  beforeAll(async () => {
    api = await bootApi('memory', { public: true }, { timeZone });
  });
  afterAll(() => api?.close());

  it('daily_usage puts each record on its local day (23:30Z and 00:15Z are the evening before in New York)', async () => {
    const { body } = await request(api.http).get(`/agent-usage/analytics?${RANGE}`).expect(200);
    expect(body.range.time_zone).toBe(timeZone);
    const perDay = new Map<string, number>();
    for (const r of DATASET) perDay.set(localDay(r.recordedAt), (perDay.get(localDay(r.recordedAt)) ?? 0) + 1);
    expect(perDay.get('2026-11-02')).toBe(3); // api-1 10:00Z, api-2 23:30Z, api-3 00:15Z (Nov 3 in UTC)
    for (const d of body.daily_usage) expect({ date: d.date, operations: d.operations }).toEqual({ date: d.date, operations: perDay.get(d.date) ?? 0 });
  });
});
