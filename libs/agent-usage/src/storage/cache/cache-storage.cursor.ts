import type { Redis } from 'ioredis';
import { PART_SEPARATOR, TIME_WIDTH, indexTime } from './cache-storage.keys';

/**
 * The lexical range of one index in a day's index set (cache-storage.keys.ts): the members that start
 * with `start` (one dimension's value, or every record), recorded in [from, to).
 */
export function lexRange(start: string, from?: Date, to?: Date): [string, string] {
  const min = from ? `[${start}${indexTime(from.getTime())}` : `[${start}`;
  // `}` follows `|` in byte order: `(<code>|<enc>}` bounds exactly the members starting with `<code>|<enc>|`.
  const max = to ? `(${start}${indexTime(to.getTime())}` : `(${start.slice(0, -1)}}`;
  return [min, max];
}

/** The record id of an index member that starts with `start`. */
export function memberId(start: string, member: string): string {
  return member.slice(start.length + TIME_WIDTH + PART_SEPARATOR.length);
}

/**
 * Time-ordered walk of one index range with bounded memory: ZRANGEBYLEX (or ZREVRANGEBYLEX) in chunks,
 * resuming after the last member seen. Members are unique and ordered by time then id, so an exclusive
 * bound on the last one neither skips nor repeats anything, also while the walker deletes what it visits.
 */
export class IndexCursor {
  done = false;

  constructor(
    private readonly client: Redis,
    readonly key: string,
    private min: string,
    private max: string,
    private readonly desc: boolean,
    private readonly chunk: number,
  ) {}

  /** The next chunk of members. */
  async next(): Promise<string[]> {
    const raw = this.desc
      ? await this.client.zrevrangebylex(this.key, this.max, this.min, 'LIMIT', 0, this.chunk)
      : await this.client.zrangebylex(this.key, this.min, this.max, 'LIMIT', 0, this.chunk);
    if (raw.length < this.chunk) this.done = true;
    if (raw.length) {
      const last = `(${raw[raw.length - 1]}`;
      if (this.desc) this.max = last;
      else this.min = last;
    }
    return raw;
  }
}
