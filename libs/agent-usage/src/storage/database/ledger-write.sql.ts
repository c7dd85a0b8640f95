import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { LEDGER_COLUMNS, type RollupLayout } from './usage-sql.builder';
import { ROLLUP_SOURCE_COLUMNS, rollupAggregateSql, rollupUpsertSql } from './rollup-aggregate.sql';

/** JSON for jsonb: PostgreSQL rejects the NUL character (\u0000) in jsonb strings, which would poison a batch forever. */
function metadataJson(metadata: Record<string, unknown> | null): string | null {
  if (metadata === null || metadata === undefined) return null;
  return JSON.stringify(metadata, (_k, v) => (typeof v === 'string' && v.includes('\u0000') ? v.split('\u0000').join('\uFFFD') : v));
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPE = /["\\]/g;

/**
 * A PostgreSQL array literal of one ledger column (`{"a","b",NULL}`, `{1,NULL}`, `{t,f}`), sent as one
 * text parameter: much cheaper than pg's generic array serialization (a regex escape per element).
 * Strings are always quoted (so 'NULL' stays a string); a value of an unexpected type is quoted too, so
 * a bad record fails the cast instead of shifting the elements of a column.
 */
function arrayLiteral(batch: readonly UsageRecord[], column: (typeof LEDGER_COLUMNS)[number]): string {
  const scalar = column.type === 'int8' || column.type === 'bool';
  const parts = new Array<string>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i];
    let v: unknown = r[column.field];
    if (column.field === 'recordedAt') v = (v instanceof Date ? v : new Date(v as string)).toISOString();
    else if (column.field === 'metadata') v = metadataJson(r.metadata);
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (scalar && typeof v === 'number' && Number.isFinite(v)) parts[i] = String(v);
    else if (scalar && typeof v === 'boolean') parts[i] = v ? 't' : 'f';
    else {
      const text = String(v);
      parts[i] = NEEDS_ESCAPE.test(text) ? `"${text.replace(ESCAPE, '\\$&')}"` : `"${text}"`;
    }
  }
  return `{${parts.join(',')}}`;
}

/**
 * Ledger insert and both rollup upserts in ONE statement (so one transaction, one round trip):
 * rows arrive as one array per column (`unnest`), `ON CONFLICT DO NOTHING RETURNING` yields only the
 * rows really added, and only those are summed per rollup key and upserted. Locks are taken in one
 * global order by every writer: ledger ids (the batch is sorted by id), then the agent rollup's keys in
 * key order, then the user rollup's (the final SELECT reads the CTEs in that order), so concurrent
 * writers wait on each other instead of deadlocking.
 *
 * The conflict target is the ledger's primary key: (record_id, recorded_at) on a partitioned ledger (the
 * partition key must be part of it), record_id on a plain ledger of an earlier version. A replay of a
 * record (same id, same recorded_at) is stored once either way; on a partitioned ledger the same id with
 * a different recorded_at is a different row (records get their id and time together at creation, so
 * only a host re-sending an id with another time sees this).
 */
export function ledgerInsertSql(ledger: string, rollupTable: ReadonlyMap<RollupLayout, string>, keyHasTime = true): string {
  const cols = LEDGER_COLUMNS.map((c) => c.column);
  const tz = `$${LEDGER_COLUMNS.length + 1}::text`;
  const ctes = [
    `input AS (
        SELECT * FROM unnest(${LEDGER_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')}) AS u(${cols.join(', ')})
      )`,
    `ins AS (
        INSERT INTO ${ledger} (${cols.join(', ')})
        SELECT ${cols.map((c) => (c === 'metadata' ? 'metadata::jsonb' : c)).join(', ')} FROM input
        ON CONFLICT (${keyHasTime ? 'record_id, recorded_at' : 'record_id'}) DO NOTHING
        RETURNING ${ROLLUP_SOURCE_COLUMNS}
      )`,
  ];
  const counts = [`(SELECT count(*) FROM ins)::int AS inserted`];
  [...rollupTable].forEach(([layout, table], i) => {
    ctes.push(`agg${i} AS (${rollupAggregateSql('ins', tz, layout)})`, `up${i} AS (${rollupUpsertSql(table, layout, `agg${i}`)})`);
    counts.push(`(SELECT count(*) FROM up${i})::int AS ${layout.kind}_rows`);
  });
  return `WITH ${ctes.join(',\n      ')}\n      SELECT ${counts.join(', ')}`;
}

/** The parameters of `ledgerInsertSql` for `records`: one array literal per ledger column, then the time zone. */
export function ledgerInsertParams(records: readonly UsageRecord[], timeZone: string): string[] {
  // First occurrence of an id wins (as in the memory driver); id order makes concurrent writers of
  // the same ids wait on each other in the same order instead of deadlocking.
  const byId = new Map<string, UsageRecord>();
  for (const r of records) if (!byId.has(r.id)) byId.set(r.id, r);
  const batch = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [...LEDGER_COLUMNS.map((c) => arrayLiteral(batch, c)), timeZone];
}
