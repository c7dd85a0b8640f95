import { divRound, largestRemainder, money, nanoOf, percentOf, ratio2, sharePercents } from './analytics-money';

describe('analytics money arithmetic', () => {
  it('rounds half up once, on integers', () => {
    expect([divRound(5n, 2n), divRound(7n, 3n), divRound(8n, 3n), divRound(1n, 0n)]).toEqual([3n, 2n, 3n, 0n]);
    expect([percentOf(1n, 3n), percentOf(2n, 3n), percentOf(1n, 8n), percentOf(0n, 0n)]).toEqual([33.33, 66.67, 12.5, null]);
    expect([ratio2(10n, 3n), ratio2(1n, 0n)]).toEqual([3.33, 0]);
  });

  it('keeps USD exact: the number is parsed from the nine-decimal string', () => {
    expect(money(10_000_000_000_000_000_001n)).toEqual({ usd: Number('10000000000.000000001'), exact: '10000000000.000000001' });
    expect(money(1_500_000_001n)).toEqual({ usd: 1.500000001, exact: '1.500000001' });
    expect(nanoOf('12.000000345')).toBe(12_000_000_345n);
  });

  it('largest remainder: shares sum to 100.00, leftovers to the largest remainders, earlier first on ties', () => {
    expect(largestRemainder([1n, 1n, 1n])).toEqual([33.34, 33.33, 33.33]);
    expect(largestRemainder([2n, 1n])).toEqual([66.67, 33.33]);
    expect(largestRemainder([1n, 0n, 1n])).toEqual([50, 0, 50]);
    expect(largestRemainder([0n, 0n])).toEqual([0, 0]);
    const odd = largestRemainder([7n, 11n, 13n, 17n, 19n, 23n]);
    expect(odd.reduce((a, p) => a + Math.round(p * 100), 0)).toBe(10_000);
  });

  it('shares of calls when nothing was priced', () => {
    expect(sharePercents([{ costNano: 0n, calls: 3n }, { costNano: 0n, calls: 1n }])).toEqual([75, 25]);
    expect(sharePercents([{ costNano: 5n, calls: 1n }, { costNano: 0n, calls: 9n }])).toEqual([100, 0]);
  });
});
