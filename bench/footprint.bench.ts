/**
 * Part 6, footprint: bytes each record costs in each store, measured after writing N records of the ingest
 * part's shape through the module (5,000 users, 300 agents, 40 models, spread over two days):
 * - PostgreSQL: `pg_total_relation_size` (heap, indexes, TOAST) of the ledger, summed over its partitions
 *   when it is partitioned (`pg_partition_tree` lists a plain table as itself, so both layouts measure
 *   alike), and of each rollup (per record and per rollup row; rollups grow with distinct groups, not
 *   records, so their per-record figure holds for this shape only);
 * - Redis: `MEMORY USAGE` (SAMPLES 0: exact for aggregates) summed over every key under the driver's prefix;
 * - file: bytes of the driver's day files.
 * Measured as written (no VACUUM FULL): what a store holds between autovacuums.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchConfig,
  type DriverName,
  type ResultRow,
  REDIS_URL,
  RUN_ID,
  bootApp,
  driverOptions,
  driverTables,
  dropDriverData,
  fmtInt,
  log,
  makeInput,
  makeTempDir,
  pgClient,
  prng,
  yieldToLoop,
} from './common';

interface Measured {
  what: string;
  bytes: number;
  /** Rows (rollups) or keys (Redis) the bytes are spread over, when that says something. */
  units?: { count: number; name: string };
}

async function writeRecords(driver: DriverName, tag: string, dir: string, n: number): Promise<void> {
  const options = driverOptions(driver, tag, dir);
  options.writer = { maxBufferedRecords: n + 1, spoolDirectory: join(dir, 'spool') };
  const b = await bootApp(options, true);
  try {
    const rand = prng(7);
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      b.usage.record(makeInput(i, rand, now));
      if ((i & 1023) === 1023) await yieldToLoop();
    }
    await b.usage.flush();
    const held = (await b.usage.getUsageAggregate()).recordCount;
    if (held !== n) throw new Error(`footprint: ${driver} holds ${held} of ${n} records`);
  } finally {
    await b.close();
  }
}

/** Ledger (all partitions) and each rollup table of a tag. */
async function measurePg(tag: string): Promise<Measured[]> {
  const [users, daily, ledger, hours, hourTotals] = driverTables(tag);
  const pg = await pgClient();
  try {
    const size = async (table: string): Promise<{ bytes: number; rows: number; parts: number } | null> => {
      const exists = await pg.query('SELECT to_regclass($1) IS NOT NULL AS ok', [`"${table}"`]);
      if (!exists.rows[0].ok) return null;
      // pg_partition_tree: a partitioned table and its partitions (partitioned parents and partitioned
      // indexes hold no storage of their own, so the sum is what is on disk); nothing for a plain table,
      // which is then measured itself. So the figure holds before and after the ledger is partitioned.
      const r = await pg.query(
        `SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass)),
                         pg_total_relation_size($1::regclass))::bigint AS bytes,
                (SELECT count(*) FROM pg_partition_tree($1::regclass) WHERE isleaf)::int AS parts`,
        [`"${table}"`],
      );
      const rows = await pg.query(`SELECT count(*)::bigint AS n FROM "${table}"`);
      return { bytes: Number(r.rows[0].bytes), rows: Number(rows.rows[0].n), parts: r.rows[0].parts };
    };
    const out: Measured[] = [];
    const l = await size(ledger);
    if (l) out.push({ what: `ledger (heap + indexes + TOAST${l.parts > 1 ? `, ${l.parts} partitions` : ''})`, bytes: l.bytes });
    for (const [table, what] of [
      [daily, 'daily rollup'],
      [users, 'daily per-user rollup'],
      [hours, 'hourly rollup'],
      [hourTotals, 'hourly totals rollup'],
    ] as const) {
      const s = await size(table);
      if (s) out.push({ what, bytes: s.bytes, units: { count: s.rows, name: 'row' } });
    }
    return out;
  } finally {
    await pg.end();
  }
}

/** Every key under the prefix (SCAN), MEMORY USAGE summed. */
async function measureRedis(prefix: string): Promise<Measured[]> {
  const Redis = (await import('ioredis')).default;
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    let bytes = 0;
    let keys = 0;
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (batch.length === 0) continue;
      const p = r.pipeline();
      for (const k of batch) p.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
      for (const [err, v] of (await p.exec()) ?? []) if (!err && v !== null) bytes += Number(v);
      keys += batch.length;
    } while (cursor !== '0');
    return [{ what: 'every key under the prefix (MEMORY USAGE)', bytes, units: { count: keys, name: 'key' } }];
  } finally {
    r.disconnect();
  }
}

async function measureFiles(dir: string): Promise<Measured[]> {
  const folder = join(dir, 'usage-files');
  let bytes = 0;
  let files = 0;
  for (const f of await fs.readdir(folder)) {
    if (!f.endsWith('.jsonl')) continue;
    bytes += (await fs.stat(join(folder, f))).size;
    files++;
  }
  return [{ what: 'day files (JSON Lines)', bytes, units: { count: files, name: 'file' } }];
}

export async function runFootprint(cfg: BenchConfig): Promise<ResultRow[]> {
  const n = cfg.quick ? 10_000 : 200_000;
  const rows: ResultRow[] = [];
  for (const driver of (['database', 'cache', 'file'] as DriverName[]).filter((d) => cfg.drivers.includes(d))) {
    const tag = `fp_${RUN_ID}`;
    const dir = await makeTempDir(`footprint-${driver}`);
    try {
      log(`footprint: ${driver}: ${fmtInt(n)} records`);
      await writeRecords(driver, tag, dir, n);
      const measured =
        driver === 'database' ? await measurePg(tag) : driver === 'cache' ? await measureRedis(`bench:${tag}:`) : await measureFiles(dir);
      for (const m of measured) {
        const perRecord = m.bytes / n;
        const perUnit = m.units && m.units.count > 0 ? m.bytes / m.units.count : null;
        rows.push({
          part: 'footprint',
          metric: `bytes per record: ${m.what}, ${fmtInt(n)} records`,
          driver,
          value: `${perRecord.toFixed(1)} B/record`,
          baseline: `${fmtInt(m.bytes)} B in all${m.units ? `; ${fmtInt(m.units.count)} ${m.units.name}s${perUnit !== null ? `, ${fmtInt(perUnit)} B per ${m.units.name}` : ''}` : ''}`,
          ratio: null,
          ratioText: `${((perRecord * 1e6) / 1048576).toFixed(1)} MB per million records`,
          target: '(informational: the README scale-out note)',
          pass: null,
          ...(m.units?.name === 'row'
            ? { note: `rollup rows grow with distinct (day or hour, agent, model, provider, category[, user]) groups, not records: at this shape ${fmtInt(n)} records made ${fmtInt(m.units.count)} rows` }
            : {}),
        });
      }
    } finally {
      await dropDriverData(driver, tag);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
