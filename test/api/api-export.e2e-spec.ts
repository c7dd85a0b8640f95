/**
 * GET usage/export (CSV, JSON Lines, JSON array) parsed back and compared with the data set, on every
 * driver; backpressure with a client that stops reading; the invoice page's escaping; the alerts round trip.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { UsageRecord } from 'nestjs-agent-usage';
import { parseCsv } from './csv-parse';
import { API_DRIVERS, ApiApp, DATASET, HTML_MODEL, RANGE, TRICKY_AGENT, bootApi, usd } from './api-app.fixture';

const byId = (a: { id?: unknown }, b: { id?: unknown }) => (String(a.id) < String(b.id) ? -1 : 1);

describe.each(API_DRIVERS)('GET usage/export on the %s driver', (driver) => {
  let api: ApiApp;
  beforeAll(async () => {
    api = await bootApi(driver, { public: true });
  }, 60_000);
  afterAll(() => api?.close());

  it('CSV: header row, RFC 4180 quoting, parsed back to the data set, exact money', async () => {
    const res = await request(api.http).get(`/agent-usage/usage/export?${RANGE}&format=csv`).buffer(true).parse((r, cb) => {
      let s = '';
      r.on('data', (c: Buffer) => (s += c.toString('utf8')));
      r.on('end', () => cb(null, s));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers['content-disposition']).toBe('attachment; filename="agent-usage-2026-11-01-2026-11-30.csv"');
    const text = res.body as string;
    expect(text).toContain(`"${TRICKY_AGENT.replace(/"/g, '""')}"`);
    const [header, ...rows] = parseCsv(text);
    expect(header.slice(0, 3)).toEqual(['id', 'recorded_at', 'agent_name']);
    const objects = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]]))).sort(byId);
    expect(objects).toHaveLength(DATASET.length);
    for (const [i, r] of [...DATASET].sort(byId).entries()) {
      expect(objects[i]).toMatchObject({ id: r.id, agent_name: r.agentName, model_name: r.modelName, recorded_at: r.recordedAt, cost_usd: usd(r.costNanoUsd), input_tokens: String(r.inputTokens ?? ''), category: r.category ?? 'chat', units: String(r.units ?? ''), success: String(r.success ?? true) });
      expect(objects[i].metadata === '' ? null : JSON.parse(objects[i].metadata)).toEqual(r.metadata ?? null);
    }
  });

  it('JSON Lines and the JSON array give the same rows; filters apply', async () => {
    const jsonl = await request(api.http).get(`/agent-usage/usage/export?${RANGE}&format=jsonl&agent=support`).expect(200);
    expect(jsonl.headers['content-disposition']).toBe('attachment; filename="agent-usage-2026-11-01-2026-11-30.jsonl"');
    const lines = jsonl.text.trim().split('\n').map((l) => JSON.parse(l));
    const support = DATASET.filter((r) => r.agentName === 'support');
    expect(lines.map((l) => l.id).sort()).toEqual(support.map((r) => r.id).sort());
    const json = await request(api.http).get(`/agent-usage/usage/export?${RANGE}&format=json&agent=support`).expect(200);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect([...json.body].sort(byId)).toEqual([...lines].sort(byId));
    expect(lines.find((l) => l.id === 'api-3')).toMatchObject({ cost_usd: '0.000750000', success: false, error_type: 'RateLimitError' });
  });

  it('without a range: every record (all_time), the file named after the days it covers', async () => {
    const res = await request(api.http).get('/agent-usage/usage/export?format=jsonl').expect(200);
    expect(res.text.trim().split('\n')).toHaveLength(DATASET.length);
    const first = DATASET.map((r) => r.recordedAt.slice(0, 10)).sort()[0];
    expect(res.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="agent-usage-${first}-\\d{4}-\\d{2}-\\d{2}\\.jsonl"$`));
  });

  it('an empty range is an empty array / a header only; bad input is a 400 before any byte', async () => {
    const empty = await request(api.http).get('/agent-usage/usage/export?start_date=2020-01-01&end_date=2020-01-02&format=json').expect(200);
    expect(empty.body).toEqual([]);
    const csv = await request(api.http).get('/agent-usage/usage/export?start_date=2020-01-01&end_date=2020-01-02').expect(200);
    expect(parseCsv(csv.text)).toHaveLength(1);
    const bad = await request(api.http).get('/agent-usage/usage/export?start_date=2026-02-30').expect(400);
    expect(bad.body.field).toBe('start_date');
  });
});

describe('export backpressure, invoice page, alerts (memory driver)', () => {
  let api: ApiApp;
  const COUNT = 6000;
  const big = Array.from({ length: COUNT }, (_, i) => ({
    id: `bp-${String(i).padStart(5, '0')}`,
    agentName: 'bulk',
    modelName: 'gpt-4o',
    inputTokens: i,
    outputTokens: 1,
    costNanoUsd: i,
    recordedAt: new Date(Date.UTC(2026, 9, 1) + i * 1000).toISOString(),
    metadata: { pad: 'x'.repeat(2000) },
  }));
  beforeAll(async () => {
    api = await bootApi('memory', { public: true }, { memory: { maxRecords: 100_000 } }, [...DATASET, ...big]);
  }, 60_000);
  afterAll(() => api?.close());

  it('a client that stops reading stops the read of the store (await drain); all rows arrive when it resumes', async () => {
    let pulled = 0;
    const original = api.usage.exportUsage.bind(api.usage);
    jest.spyOn(api.usage, 'exportUsage').mockImplementation((q) => {
      const inner = original(q);
      return {
        async *[Symbol.asyncIterator]() {
          for await (const r of inner as AsyncIterable<UsageRecord>) {
            pulled++;
            yield r;
          }
        },
      };
    });
    await new Promise<void>((resolve) => api.app.getHttpServer().listen(0, '127.0.0.1', resolve));
    const { port } = api.app.getHttpServer().address() as AddressInfo;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/agent-usage/usage/export?start_date=2026-10-01&end_date=2026-10-31&format=jsonl' }, (res) => {
          res.pause();
          // Paused: the socket buffers fill, the server waits for drain and stops pulling records.
          setTimeout(() => {
            const whilePaused = pulled;
            setTimeout(() => {
              expect(pulled).toBe(whilePaused); // nothing more read while the client is not reading
              expect(whilePaused).toBeLessThan(COUNT / 2);
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => (text += c));
              res.on('end', () => resolve(text));
              res.resume();
            }, 300);
          }, 700);
        });
        req.on('error', reject);
        req.end();
      });
      const ids = body.trim().split('\n').map((l) => JSON.parse(l).id);
      expect(ids).toHaveLength(COUNT);
      expect(new Set(ids).size).toBe(COUNT);
      expect(pulled).toBe(COUNT);
    } finally {
      jest.restoreAllMocks();
      await new Promise<void>((resolve) => api.app.getHttpServer().close(() => resolve()));
    }
  });

  it('GET invoice?format=html: a printable page, every value escaped, no script, its stylesheet served', async () => {
    const res = await request(api.http).get('/agent-usage/invoice?month=2026-11&format=html').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html; charset=utf-8/);
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; style-src 'self'");
    expect(res.text).not.toMatch(/<script/i);
    expect(res.text).toContain('gpt-4o&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(res.text).not.toContain(HTML_MODEL);
    // From the root: a relative link would break under a trailing slash and from a blob: URL.
    expect(res.text).toContain('<link rel="stylesheet" href="/agent-usage/invoice/invoice.css">');
    const total = DATASET.reduce((a, r) => a + BigInt(r.costNanoUsd), 0n);
    const cents = (total * 100n + 500_000_000n) / 1_000_000_000n;
    expect(res.text).toContain(`USD ${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`);
  });

  it('POST, GET and DELETE alerts: a round trip in snake_case', async () => {
    const created = await request(api.http)
      .post('/agent-usage/alerts')
      .send({ agent: 'support', daily_budget: '5.00', alerts: [{ percent: 80, action: 'webhook' }, { percent: 100, action: 'pause_agent' }], webhook_url: 'https://hooks.example.com/usage' })
      .expect(201);
    expect(created.body).toMatchObject({ agent_name: 'support', webhook_url: 'https://hooks.example.com/usage', paused: false });
    expect(created.body.alerts).toEqual([{ percent: 80, action: 'webhook' }, { percent: 100, action: 'pause_agent' }]);
    expect(typeof created.body.id).toBe('string');
    expect(typeof created.body.created_at).toBe('string');
    const listed = await request(api.http).get('/agent-usage/alerts').expect(200);
    expect(listed.body.map((a: { id: string }) => a.id)).toEqual([created.body.id]);
    await request(api.http).delete(`/agent-usage/alerts/${encodeURIComponent(created.body.id)}`).expect(204);
    const gone = await request(api.http).delete(`/agent-usage/alerts/${encodeURIComponent(created.body.id)}`).expect(404);
    expect(gone.body.field).toBe('id');
    expect((await request(api.http).get('/agent-usage/alerts').expect(200)).body).toEqual([]);
  });

  it('POST alerts with a scope: wire names of the dimension (model, model_name) are the service name', async () => {
    for (const dimension of ['model', 'model_name', 'modelName']) {
      const res = await request(api.http)
        .post('/agent-usage/alerts')
        .send({ scope: { dimension, value: 'gpt-4o' }, limit: '10', window: 'week', alerts: [{ percent: 50, action: 'webhook' }], webhook_url: 'https://hooks.example.com/usage' })
        .expect(201);
      expect(res.body).toMatchObject({ scope: { dimension: 'modelName', value: 'gpt-4o' }, limit: '10', window: 'week' });
      await request(api.http).delete(`/agent-usage/alerts/${res.body.id}`).expect(204);
    }
  });

  it('POST alerts: a 400 names the body field', async () => {
    const cases: [object, string][] = [
      [{ agent: 'support', daily_budget: '5' }, 'alerts'],
      [{ agent: 'support', daily_budget: '5', alerts: [{ percent: 80, action: 'email' }] }, 'alerts[0].action'],
      [{ agent: 'support', daily_budget: 'five', alerts: [{ percent: 80, action: 'webhook' }] }, 'daily_budget'],
      [{ agent: 'support', daily_budget: '5', alerts: [{ percent: 80, action: 'webhook' }], colour: 'red' }, 'colour'],
      [{ agent: 'a', agent_name: 'b', daily_budget: '5', alerts: [{ percent: 80, action: 'webhook' }] }, 'agent_name'],
    ];
    for (const [body, field] of cases) {
      const res = await request(api.http).post('/agent-usage/alerts').send(body);
      expect({ field, status: res.status, got: res.body.field }).toEqual({ field, status: 400, got: field });
    }
  });
});
