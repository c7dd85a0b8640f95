// pg-copy-streams ships no types; the bench uses `from` (COPY ... FROM STDIN as a Writable) and `to`
// (COPY ... TO STDOUT as a Readable).
declare module 'pg-copy-streams' {
  import type { Readable, Writable } from 'node:stream';
  export function from(sql: string): Writable & { rowCount: number };
  export function to(sql: string): Readable;
}
