/** The pure helpers of the HTTP module: snake_case conversion, field names, CSV fields, HTML escaping, cents. */
import { csvField } from '../../libs/agent-usage/src/api/export/usage-export.format';
import { httpFieldName, snakeKey, toSnakeCase } from '../../libs/agent-usage/src/api/http/snake-case';
import { cents, escapeHtml } from '../../libs/agent-usage/src/api/invoice/invoice.html';
import { parseCsv } from './csv-parse';

it('converts keys deeply; Dates to ISO; record metadata kept as written; all-caps keys kept', () => {
  const at = new Date('2026-11-02T10:00:00.000Z');
  expect(
    toSnakeCase({ amountSpentExact: '1.5', topModels: [{ costExact: '1', recordedAt: at }], metadata: { camelKey: { innerKey: 1 } }, statusCounts: { noBudget: 2, LOW: 1 }, big: 2n ** 64n, gone: undefined }),
  ).toEqual({ amount_spent_exact: '1.5', top_models: [{ cost_exact: '1', recorded_at: '2026-11-02T10:00:00.000Z' }], metadata: { camelKey: { innerKey: 1 } }, status_counts: { no_budget: 2, LOW: 1 }, big: '18446744073709551616' });
  expect(snakeKey('avgCostPerOperation')).toBe('avg_cost_per_operation');
  expect(snakeKey('p95Latency')).toBe('p95_latency');
});

it('names service fields as the client sent them', () => {
  expect(httpFieldName('startDate')).toBe('start_date');
  expect(httpFieldName('agentName')).toBe('agent');
  expect(httpFieldName('alerts[1].percent')).toBe('alerts[1].percent');
  expect(httpFieldName('scope.dimension')).toBe('scope.dimension');
  expect(httpFieldName('dailyBudget')).toBe('daily_budget');
});

it('CSV fields: commas, quotes, CR and LF quoted with doubled quotes, and parsed back', () => {
  const values = ['plain', 'a,b', 'say "hi"', 'line 1\nline 2', 'cr\r\nlf', '', ' spaced '];
  expect(values.map(csvField)).toEqual(['plain', '"a,b"', '"say ""hi"""', '"line 1\nline 2"', '"cr\r\nlf"', '', ' spaced ']);
  expect(parseCsv(values.map(csvField).join(',') + '\r\n')).toEqual([values]);
  expect(csvField(null)).toBe('');
  expect(csvField(12)).toBe('12');
});

it('HTML escaping and cents (half-up, exact)', () => {
  expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  expect(cents('0.026900001')).toBe('0.03');
  expect(cents('12.344999999')).toBe('12.34');
  expect(cents('12.345000000')).toBe('12.35');
  expect(cents('99999999999.995000000')).toBe('100000000000.00');
});
