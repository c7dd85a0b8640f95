const TWO_32 = 4_294_967_296;

/** Growable buffer of the blob format: u32-length strings, u16 / u32 and signed 64-bit big-endian. */
export class BlobWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(256, size));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A string as UTF-8 after its byte length (u32). */
  str(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4 + n;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos] = v >>> 8;
    this.buf[this.pos + 1] = v & 0xff;
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** Safe integers `values[from .. from + count)`, possibly negative, times `sign`, as signed 64-bit. */
  i64s(values: Float64Array, from: number, count: number, sign: number): void {
    this.ensure(8 * count);
    const buf = this.buf;
    let p = this.pos;
    for (let k = from; k < from + count; k++) {
      const v = sign * values[k];
      let hi = 0;
      let lo = v;
      if (v < 0 || v >= TWO_32) {
        hi = Math.floor(v / TWO_32);
        lo = v - hi * TWO_32;
        hi >>>= 0; // two's complement of the high word
      }
      buf[p] = hi >>> 24;
      buf[p + 1] = (hi >>> 16) & 0xff;
      buf[p + 2] = (hi >>> 8) & 0xff;
      buf[p + 3] = hi & 0xff;
      buf[p + 4] = lo >>> 24;
      buf[p + 5] = (lo >>> 16) & 0xff;
      buf[p + 6] = (lo >>> 8) & 0xff;
      buf[p + 7] = lo & 0xff;
      p += 8;
    }
    this.pos = p;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
