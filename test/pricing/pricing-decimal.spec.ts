import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PRICE_TABLE_PACKAGE, PRICE_TABLE_VERSION } from 'nestjs-agent-usage/pricing/pricing.constants';
import { decimalProblem, scaleDecimal } from 'nestjs-agent-usage/pricing/pricing-decimal.util';
import { cardFromTable, costPico, picoToNano } from 'nestjs-agent-usage/pricing/price-card';

describe('exact decimal rates', () => {
  it('parses numbers and strings to scaled integers without floating point', () => {
    expect(scaleDecimal('0.075', 6)).toBe(75_000n);
    expect(scaleDecimal(0.075, 6)).toBe(75_000n);
    expect(scaleDecimal(2.5, 6)).toBe(2_500_000n);
    expect(scaleDecimal('15', 6)).toBe(15_000_000n);
    expect(scaleDecimal(' 0.1 ', 6)).toBe(100_000n);
    expect(scaleDecimal(1.5e-7, 12)).toBe(150_000n); // String(1.5e-7) is '1.5e-7'
    expect(scaleDecimal(0.000002, 12)).toBe(2_000_000n);
    expect(scaleDecimal(0, 6)).toBe(0n);
    expect(scaleDecimal('007.50', 6)).toBe(7_500_000n);
  });

  it('rejects more decimals than allowed, negatives and non-numbers, saying why', () => {
    expect(decimalProblem('0.0000001', 6)).toMatch(/7 decimals; at most 6/);
    expect(decimalProblem(-1, 6)).toMatch(/cannot be negative/);
    expect(decimalProblem('-0.5', 6)).toMatch(/cannot be negative/);
    expect(decimalProblem('abc', 6)).toMatch(/plain decimal/);
    expect(decimalProblem(NaN, 6)).toMatch(/NaN/);
    expect(decimalProblem(Infinity, 6)).toMatch(/Infinity/);
    expect(decimalProblem(null, 6)).toMatch(/null/);
    expect(decimalProblem(undefined, 6)).toMatch(/undefined/);
    expect(decimalProblem('0.000001', 6)).toBeNull();
    expect(() => scaleDecimal('0.0000001', 6)).toThrow(RangeError);
  });

  it('rounds table float noise half-up instead of rejecting the table', () => {
    expect(scaleDecimal(0.08333333333333334, 6, 'half-up')).toBe(83_333n);
    expect(scaleDecimal(0.18000000000000002, 6, 'half-up')).toBe(180_000n);
    expect(scaleDecimal('0.0000005', 6, 'half-up')).toBe(1n);
  });

  it('picoToNano rounds half-up', () => {
    expect([499n, 500n, 1499n, 1500n, 2500n].map(picoToNano)).toEqual([0n, 1n, 1n, 2n, 3n]);
  });
});

describe('table price sets', () => {
  const counts = { inputTokens: 100, cachedInputTokens: 40, cacheWriteTokens: 10, outputTokens: 20, reasoningTokens: 5, requests: 1 };

  it('bills cache and reasoning at input/output rates when the table has no separate rate', () => {
    const card = cardFromTable({ input_mtok: 1, output_mtok: 2 })!;
    // everything at input 1 / output 2: 100 x 1e6 + 20 x 2e6 pico
    expect(costPico(card, counts)).toBe(140_000_000n);
  });

  it('charges per-request prices and leaves models priced only in other units unpriced', () => {
    // sonar: requests_kcount 5 USD per 1,000 requests = 0.005 USD = 5e9 pico per request
    const card = cardFromTable({ input_mtok: 1, output_mtok: 1, requests_kcount: 5 })!;
    expect(costPico(card, { ...counts, requests: 2 })).toBe(120_000_000n + 10_000_000_000n);
    expect(cardFromTable({ audio_hours: 0.111 })).toBeNull();
    expect(costPico(cardFromTable({})!, counts)).toBe(0n); // a free model
  });
});

it('PRICE_TABLE_VERSION is the installed version (priceSource names the table really used)', () => {
  const entry = require.resolve(PRICE_TABLE_PACKAGE);
  let dir = dirname(entry);
  while (!dir.endsWith(join('@pydantic', 'genai-prices'))) dir = dirname(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  expect(pkg.version).toBe(PRICE_TABLE_VERSION);
  const lib = JSON.parse(readFileSync(join(__dirname, '../../libs/agent-usage/package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect(lib.dependencies[PRICE_TABLE_PACKAGE]).toBe(PRICE_TABLE_VERSION);
});
