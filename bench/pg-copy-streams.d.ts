// pg-copy-streams ships no types; the bench uses only `from` (COPY ... FROM STDIN as a Writable).
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';
  export function from(sql: string): Writable & { rowCount: number };
}
