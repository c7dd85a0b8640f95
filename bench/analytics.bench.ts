/**
 * Part of `query`: the analytics HTTP API (`nestjs-agent-usage/api`) over the same PostgreSQL data set,
 * through a real Nest HTTP server, the way a dashboard asks: each summary route over one month, timed
 * against the plain SQL scan of the month's ledger rows in the same run, the dashboard's first render
 * over that month (dashboard.bench.ts), and the CSV export of the whole
 * data set with the heap watched while it streams (against PostgreSQL's own COPY of the same rows).
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { UsageTrackingModule } from 'nestjs-agent-usage';
import { UsageApiModule } from 'nestjs-agent-usage/api';
import { measureDashboard } from './dashboard.bench';
import { type BenchConfig, type ResultRow, PG_URL, fmtInt, fmtMB, fmtMs, fmtRate, fmtRatio, log, msSince, nowNs, pgClient, timeMedian } from './common';

export interface AnalyticsDataSet {
  label: string;
  rows: number;
  ledger: string;
  rollup: string;
  /** The month every summary route is asked about, and the first and last day holding data. */
  month: string;
  firstDay: string;
  lastDay: string;
}

/** The bound of issue 12: the export's heap growth while streaming. */
const EXPORT_HEAP_BOUND = 50 * 1048576;
/** The largest set the export is measured on. */
const EXPORT_MAX_ROWS = 1_000_000;

async function bootHttp(ds: AnalyticsDataSet): Promise<{ base: string; close: () => Promise<void> }> {
  @Module({
    imports: [
      UsageTrackingModule.forRoot({
        trackUsage: true,
        storage: 'database',
        database: { url: PG_URL, tableName: ds.ledger, rollupTableName: ds.rollup, autoMigrate: false, useRollups: true },
      }),
      UsageApiModule.forRoot({ path: 'usage-api', public: true }),
    ],
  })
  class AnalyticsBenchModule {}
  const app = await NestFactory.create(AnalyticsBenchModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}/usage-api`, close: () => app.close() };
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

const gc = (global as { gc?: () => void }).gc;

/**
 * Streams `url` into a sink that only counts lines; resolves with the line count, the peak of the live
 * heap (sampled right after a full GC every 200 ms: what the export keeps, not the garbage it makes) over
 * the live heap before, and the peak of the raw heap (garbage included) over the raw heap before.
 */
async function streamExport(url: string): Promise<{ lines: number; bytes: number; peakGrowth: number; peakTotalGrowth: number; ms: number }> {
  if (!gc) throw new Error('the export row needs --expose-gc (run.ts forks its parts with it)');
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  let peakTotal = base;
  const live = () => {
    gc();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  const sampler = setInterval(live, 200);
  const rawSampler = setInterval(() => (peakTotal = Math.max(peakTotal, process.memoryUsage().heapUsed)), 20);
  let lines = 0;
  let bytes = 0;
  const t = nowNs();
  try {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => httpRequest(url, resolve).on('error', reject).end());
    if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode}`);
    await pipeline(
      res,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
          cb();
        },
      }),
    );
  } finally {
    clearInterval(sampler);
    clearInterval(rawSampler);
  }
  return { lines, bytes, peakGrowth: peak - base, peakTotalGrowth: peakTotal - base, ms: msSince(t) };
}

/** The same rows out of PostgreSQL by COPY, as fast as the server can send them: the export's baseline. */
async function copyBaseline(ds: AnalyticsDataSet): Promise<{ rows: number; ms: number }> {
  const { to: copyTo } = await import('pg-copy-streams');
  const pg = await pgClient();
  try {
    let rows = 0;
    const t = nowNs();
    const sql = `COPY (SELECT * FROM "${ds.ledger}" ORDER BY recorded_at DESC, record_id DESC) TO STDOUT WITH (FORMAT csv, HEADER)`;
    const stream = pg.query(copyTo(sql) as any) as unknown as ReturnType<typeof copyTo>;
    await pipeline(
      stream,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
          cb();
        },
      }),
    );
    return { rows: rows - 1, ms: msSince(t) };
  } finally {
    await pg.end();
  }
}

export async function measureAnalytics(cfg: BenchConfig, ds: AnalyticsDataSet, rows: ResultRow[], findings: string[]): Promise<void> {
  const [y, m] = ds.month.split('-').map(Number);
  const monthEnd = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
  const range = `start_date=${ds.month}-01&end_date=${monthEnd}`;
  const pg = await pgClient();
  const http = await bootHttp(ds);
  try {
    // The baseline: the month's sums straight from the ledger (what a hand-written endpoint would run).
    const scanSql = `SELECT count(*)::bigint AS n, COALESCE(sum(cost_nano_usd), 0)::bigint AS cost FROM "${ds.ledger}" WHERE recorded_at >= $1 AND recorded_at < $2`;
    const scanParams = [`${ds.month}-01T00:00:00Z`, new Date(Date.UTC(y, m, 1)).toISOString()];
    const scan = await timeMedian(cfg.quick ? 5 : 3, () => pg.query(scanSql, scanParams));
    const truth = (scan.result as import('pg').QueryResult).rows[0] as { n: string; cost: string };
    const routes: [string, string][] = [
      ['usage (summary, top models)', `usage?${range}`],
      ['usage/breakdown by model', `usage/breakdown?group_by=model&${range}`],
      ['usage/breakdown by agent', `usage/breakdown?group_by=agent&${range}`],
      ['usage/breakdown by category', `usage/breakdown?group_by=category&${range}`],
      ['analytics by day', `analytics?group_by=day&${range}`],
      ['analytics by hour', `analytics?group_by=hour&${range}`],
      ['analytics by day, split by agent', `analytics?group_by=day&split_by=agent&${range}`],
      ['fleet', `fleet?${range}`],
      ['logs, first page of 50', `logs?limit=50&${range}`],
      ['invoice', `invoice?month=${ds.month}`],
      ['usage/optimize', `usage/optimize?${range}`],
    ];
    for (const [label, path] of routes) {
      const got = await timeMedian(cfg.quick ? 5 : 7, () => getJson(`${http.base}/${path}`));
      const body = got.result as Record<string, unknown>;
      // Exactness where the route states a month total the ledger can confirm.
      let error: string | undefined;
      if (path.startsWith('usage?')) {
        const cost = String(body.amount_spent_exact);
        const want = BigInt(truth.cost).toString();
        if (String(body.operation_count) !== String(truth.n) || !sameUsd(cost, want)) {
          error = `usage answered ${body.operation_count} operations / ${cost} USD; the ledger holds ${truth.n} / ${want} nano-USD`;
        }
      }
      const speedup = scan.ms / got.ms;
      rows.push({
        part: 'query',
        metric: `GET ${label}, one month, ${ds.label}`,
        driver: 'database',
        value: fmtMs(got.ms),
        baseline: `ledger SQL sum ${fmtMs(scan.ms)}`,
        ratio: speedup,
        ratioText: `${fmtRatio(speedup)} faster`,
        target: '< 100 ms',
        pass: cfg.quick ? null : got.ms < 100,
        note: 'HTTP round trip through UsageApiModule (median)',
        ...(error ? { error } : {}),
      });
      log(`query: ${ds.label}: GET ${label}: ${fmtMs(got.ms)} (ledger sum ${fmtMs(scan.ms)})`);
    }

    // The dashboard over the same month, in a real browser (its own row; Chromium missing: a finding).
    await measureDashboard(cfg, ds.label, http.base, ds.month, rows, findings);

    // The export is measured on sets of up to 1M records (the size issue 12 names); larger sets only add minutes.
    if (ds.rows > EXPORT_MAX_ROWS) {
      findings.push(`Export not measured at ${ds.label}: it is measured on the sets of up to ${fmtInt(EXPORT_MAX_ROWS)} records.`);
      return;
    }
    const exportUrl = `${http.base}/usage/export?format=csv&start_date=${ds.firstDay}&end_date=${ds.lastDay}`;
    const ex = await streamExport(exportUrl);
    const copy = await copyBaseline(ds);
    const exported = ex.lines - 1; // the header
    const ratio = EXPORT_HEAP_BOUND / Math.max(1, ex.peakGrowth);
    rows.push({
      part: 'query',
      metric: `GET usage/export (CSV) of ${fmtInt(exported)} records, heap growth, ${ds.label}`,
      driver: 'database',
      value: fmtMB(ex.peakGrowth),
      baseline: `bound ${fmtMB(EXPORT_HEAP_BOUND)}`,
      ratio,
      ratioText: `${fmtRatio(ratio)} under the bound`,
      target: '< 50 MB',
      pass: ex.peakGrowth < EXPORT_HEAP_BOUND,
      floor: 1,
      note: `peak live heap (after a full GC, every 200 ms) during the stream minus before it; raw heapUsed incl. garbage peaked +${fmtMB(ex.peakTotalGrowth)}; server and client in one process; ${fmtMB(ex.bytes)} of CSV`,
      ...(exported === ds.rows ? {} : { error: `the export sent ${exported} records; the data set holds ${ds.rows}` }),
    });
    const rate = (exported / ex.ms) * 1000;
    const copyRate = (copy.rows / copy.ms) * 1000;
    rows.push({
      part: 'query',
      metric: `GET usage/export (CSV) rate, ${ds.label}`,
      driver: 'database',
      value: fmtRate(rate),
      baseline: `COPY TO STDOUT ${fmtRate(copyRate)}`,
      ratio: rate / copyRate,
      ratioText: `${fmtRatio(rate / copyRate)} of COPY`,
      target: '(informational)',
      pass: null,
    });
    findings.push(
      `Export at ${ds.label}: ${fmtInt(exported)} records as ${fmtMB(ex.bytes)} of CSV in ${(ex.ms / 1000).toFixed(1)} s, heap growth ${fmtMB(ex.peakGrowth)} (raw heapUsed, garbage included: ${fmtMB(ex.peakTotalGrowth)}); COPY of the same rows ${(copy.ms / 1000).toFixed(1)} s.`,
    );
    log(`query: ${ds.label}: export ${fmtInt(exported)} records in ${(ex.ms / 1000).toFixed(1)} s, heap +${fmtMB(ex.peakGrowth)}`);
  } finally {
    await http.close();
    await pg.end();
  }
}

/** True when a USD decimal string equals an integer nano-USD amount exactly. */
function sameUsd(usd: string, nano: string): boolean {
  const [whole, frac = ''] = usd.split('.');
  const n = BigInt(whole) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
  return frac.length <= 9 && n === BigInt(nano);
}
