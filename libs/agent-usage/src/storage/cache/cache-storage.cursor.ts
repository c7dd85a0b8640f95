import type { Redis } from 'ioredis';

/**
 * Time-ordered index walk with bounded memory: ZRANGEBYSCORE (or ZREVRANGEBYSCORE) in chunks, resuming from
 * the last score seen. Ties are resumed with LIMIT <members of that score already seen> and deduplicated by
 * member (Redis orders ties by member bytes), so a batch of records sharing one millisecond is neither
 * skipped nor repeated, also while the walker deletes what it visits (`removed`).
 */
export class IndexCursor {
  done = false;
  private bound: number | null = null;
  private lastMember: Buffer | null = null;
  private tieSeen = 0;
  private scores = new Map<string, number>();

  constructor(
    private readonly client: Redis,
    readonly key: string,
    private readonly min: string,
    private readonly max: string,
    private readonly desc: boolean,
    private readonly chunk: number,
  ) {}

  async next(): Promise<string[]> {
    const b = this.bound === null ? null : String(this.bound);
    const raw = this.desc
      ? await this.client.zrevrangebyscore(this.key, b ?? this.max, this.min, 'WITHSCORES', 'LIMIT', this.tieSeen, this.chunk)
      : await this.client.zrangebyscore(this.key, b ?? this.min, this.max, 'WITHSCORES', 'LIMIT', this.tieSeen, this.chunk);
    const n = raw.length / 2;
    if (n < this.chunk) this.done = true;
    if (n === 0) return [];
    const ids: string[] = [];
    this.scores.clear();
    for (let i = 0; i < raw.length; i += 2) {
      const id = raw[i];
      const score = Number(raw[i + 1]);
      if (score === this.bound && this.lastMember) {
        const c = Buffer.compare(Buffer.from(id), this.lastMember);
        if (this.desc ? c >= 0 : c <= 0) continue; // seen before this chunk
      }
      ids.push(id);
      this.scores.set(id, score);
    }
    const lastScore = Number(raw[raw.length - 1]);
    if (lastScore === this.bound) this.tieSeen += n;
    else {
      this.bound = lastScore;
      this.tieSeen = 0;
      for (let i = raw.length - 1; i > 0 && Number(raw[i]) === lastScore; i -= 2) this.tieSeen++;
    }
    this.lastMember = Buffer.from(raw[raw.length - 2]);
    return ids;
  }

  /** Members of the last chunk that are gone from the index: the tie offset must not count them. */
  removed(ids: Iterable<string>): void {
    for (const id of ids) if (this.scores.get(id) === this.bound && this.tieSeen > 0) this.tieSeen--;
  }
}
