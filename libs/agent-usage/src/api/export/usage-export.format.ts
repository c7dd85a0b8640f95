import { nanoUsdToString } from '../../query/money';
import type { UsageRecord } from '../../interfaces/usage-record.interface';

/**
 * One export row per record: snake_case columns in a fixed order, money as an exact decimal string of
 * USD (`cost_usd`, from integer nano-USD), the instant as ISO 8601 UTC, metadata as JSON text.
 */
export const EXPORT_COLUMNS = [
  'id',
  'recorded_at',
  'agent_name',
  'user_id',
  'group',
  'chat_name',
  'category',
  'model_name',
  'provider_name',
  'input_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'output_tokens',
  'reasoning_tokens',
  'total_tokens',
  'units',
  'requests',
  'success',
  'usage_missing',
  'error_type',
  'run_id',
  'cost_usd',
  'price_source',
  'metadata',
] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];
export type ExportRow = Record<ExportColumn, string | number | boolean | null>;

const CRLF = '\r\n';
const camel = (column: string): string => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
/** Each column with the record field it copies (computed once: the export formats every record). */
const FIELD_OF: readonly [ExportColumn, string][] = EXPORT_COLUMNS.map((c) => [c, camel(c)]);

export function exportRow(record: UsageRecord): ExportRow {
  const r = record as unknown as Record<string, unknown>;
  const row = {} as ExportRow;
  for (const [column, field] of FIELD_OF) {
    if (column === 'recorded_at') row[column] = record.recordedAt.toISOString();
    else if (column === 'cost_usd') row[column] = record.costNanoUsd === null ? null : nanoUsdToString(record.costNanoUsd);
    else if (column === 'metadata') row[column] = record.metadata === null ? null : JSON.stringify(record.metadata);
    else row[column] = (r[field] as ExportRow[ExportColumn] | undefined) ?? null;
  }
  return row;
}

/** One CSV line: the record's row built once, then each field quoted as RFC 4180 asks. */
function csvRow(record: UsageRecord): string {
  const row = exportRow(record);
  let line = '';
  for (let i = 0; i < EXPORT_COLUMNS.length; i++) line += (i === 0 ? '' : ',') + csvField(row[EXPORT_COLUMNS[i]]);
  return line + CRLF;
}

/** RFC 4180: a field with a comma, a double quote, CR or LF is quoted, its quotes doubled. */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}


export interface ExportFormat {
  contentType: string;
  extension: string;
  head: string;
  row(record: UsageRecord, index: number): string;
  tail: string;
}

/** The three formats: CSV with a header row, JSON Lines, one JSON array written element by element. */
export const EXPORT_FORMATS: Readonly<Record<'csv' | 'jsonl' | 'json', ExportFormat>> = {
  csv: {
    contentType: 'text/csv; charset=utf-8',
    extension: 'csv',
    head: EXPORT_COLUMNS.join(',') + CRLF,
    row: csvRow,
    tail: '',
  },
  jsonl: {
    contentType: 'application/x-ndjson; charset=utf-8',
    extension: 'jsonl',
    head: '',
    row: (record) => JSON.stringify(jsonRow(record)) + '\n',
    tail: '',
  },
  json: {
    contentType: 'application/json; charset=utf-8',
    extension: 'json',
    head: '[',
    row: (record, i) => (i === 0 ? '\n' : ',\n') + JSON.stringify(jsonRow(record)),
    tail: '\n]\n',
  },
};

/** JSON rows carry metadata as an object (CSV has it as text). */
function jsonRow(record: UsageRecord): Record<string, unknown> {
  return { ...exportRow(record), metadata: record.metadata };
}
