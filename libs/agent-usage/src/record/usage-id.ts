import { randomFillSync } from 'node:crypto';

/**
 * Random (version 4) UUIDs for record and run ids, as `crypto.randomUUID()` makes them, with one string
 * allocation each. Node's own builds each id from about twenty concatenated pieces (about 580 bytes of
 * short-lived strings per id, measured with the sampling heap profiler); a tracked call makes two ids, which
 * was a third of everything the call path allocated and so of the scavenges that set the call's p99.
 * Here 256 ids' worth of random bytes are drawn at once (from the same CSPRNG) and written out as hex text
 * into one buffer, read back as one string; each id is then a slice of that string (a JS-side view of 36
 * characters, no copy and no call into C++ per id).
 */
const BATCH = 256;
const random = Buffer.alloc(16 * BATCH);
const text = Buffer.alloc(36 * BATCH);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Byte offsets of each of the 16 bytes' two hex digits within the 36-character id. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
let next = BATCH;
/** The current batch's ids, back to back. */
let ids = '';

function refill(): void {
  randomFillSync(random);
  for (let i = 0; i < BATCH; i++) {
    const r = i * 16;
    const t = i * 36;
    random[r + 6] = (random[r + 6] & 0x0f) | 0x40; // version 4
    random[r + 8] = (random[r + 8] & 0x3f) | 0x80; // RFC 4122 variant
    for (let j = 0; j < 16; j++) {
      const b = random[r + j];
      text[t + AT[j]] = HEX[b >> 4];
      text[t + AT[j] + 1] = HEX[b & 15];
    }
    text[t + 8] = text[t + 13] = text[t + 18] = text[t + 23] = 0x2d; // '-'
  }
  // The buffers are overwritten at the next refill; the bytes are the ids themselves, nothing else.
  ids = text.toString('latin1');
  next = 0;
}

/** A new random UUID (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`). */
export function newUsageId(): string {
  if (next === BATCH) refill();
  const at = 36 * next++;
  return ids.slice(at, at + 36);
}
