import { Controller, Get, Header } from '@nestjs/common';
import { UsageService } from 'nestjs-agent-usage';
import type { UsageGroup, UsageTotals } from 'nestjs-agent-usage';
import { AgentDirectory } from './agents/agent-directory';
import { describeStorage } from './usage-options';

const esc = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const num = (n: number): string => n.toLocaleString('en-US');

const COLUMNS: [string, (t: UsageTotals) => string][] = [
  ['calls', (t) => num(t.recordCount)],
  ['requests', (t) => num(t.requests)],
  ['input', (t) => num(t.inputTokens)],
  ['cached input', (t) => num(t.cachedInputTokens)],
  ['cache writes', (t) => num(t.cacheWriteTokens)],
  ['output', (t) => num(t.outputTokens)],
  ['reasoning', (t) => num(t.reasoningTokens)],
  ['total tokens', (t) => num(t.totalTokens)],
  // Cost only when every record of the row has a price; otherwise say how many have none.
  ['cost (USD)', (t) => (t.unpricedCount === 0 ? `$${t.costUsd}` : t.unpricedCount === t.recordCount ? 'unpriced' : `$${t.costUsd} + ${t.unpricedCount} unpriced`)],
];

function table(title: string, keyHeader: string, rows: UsageGroup[]): string {
  const head = `<tr><th>${esc(keyHeader)}</th>${COLUMNS.map(([h]) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows.length
    ? rows.map((r) => `<tr><td>${r.key === null ? '<em>none</em>' : esc(r.key)}</td>${COLUMNS.map(([, f]) => `<td>${esc(f(r))}</td>`).join('')}</tr>`).join('\n')
    : `<tr><td colspan="${COLUMNS.length + 1}"><em>no usage yet</em></td></tr>`;
  return `<h2>${esc(title)}</h2>\n<table>\n${head}\n${body}\n</table>`;
}

/** GET /: a server-rendered page of the totals per agent, per model and per day (no build step). */
@Controller()
export class DashboardController {
  constructor(
    private readonly usage: UsageService,
    private readonly agents: AgentDirectory,
  ) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  async page(): Promise<string> {
    const [budgets, total, byAgent, byModel, byDay] = await Promise.all([
      this.usage.getBudgetStatus({}),
      this.usage.getUsageAggregate(),
      this.usage.getUsageGroupedBy('agentName'),
      this.usage.getUsageGroupedBy('modelName'),
      this.usage.getUsageGroupedBy('day'),
    ]);
    const agents = this.agents.list();
    const options = agents.map((a) => `<option value="${esc(a.name)}">${esc(a.name)} (${esc(a.provider)} ${esc(a.model)})</option>`).join('');
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nestjs-agent-usage demo</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  th { background: #f3f3f3; }
  .total { font-size: 1.1rem; }
  form { margin: 1rem 0 2rem; display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
  input[name=prompt] { width: 28rem; }
  code { background: #f3f3f3; padding: 0 .2rem; }
</style>
</head>
<body>
<h1>Agent usage</h1>
<p>Storage: <code>${esc(describeStorage())}</code>. Days are UTC. JSON: <a href="/usage/aggregate">/usage/aggregate</a>,
<a href="/usage/by/agentName">/usage/by/agentName</a>, <a href="/usage">/usage</a>, <a href="/usage/stats">/usage/stats</a>.</p>
<p class="total">All agents: <strong>${num(total.recordCount)}</strong> model calls,
<strong>${num(total.totalTokens)}</strong> tokens (${num(total.inputTokens)} in, ${num(total.outputTokens)} out).</p>
${budgets
  .map(
    (b) =>
      `<p class="budget">Budget <strong>${esc(b.budget)}</strong>: ${num(b.used)} of ${num(b.limit)} ${esc(b.unit)} this ${esc(b.window.type)} (${b.percent}%)${
        b.paused ? ` &mdash; <strong style="color:#b00">paused until ${esc(b.resetAt.toISOString())}</strong> (calls answer 429)` : ''
      }</p>`,
  )
  .join('\n')}
<form id="ask">
  <select name="agent">${options}</select>
  <input name="prompt" placeholder="Ask something" required>
  <input name="userId" placeholder="userId (optional)">
  <button>Ask</button>
  <span id="status"></span>
</form>
${table('Per agent', 'agent', byAgent)}
${table('Per model', 'model', byModel)}
${table('Per day', 'day', byDay)}
<script>
  document.getElementById('ask').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { prompt: f.get('prompt') };
    if (f.get('userId')) body.userId = f.get('userId');
    const res = await fetch('/agents/' + encodeURIComponent(f.get('agent')) + '/ask', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    if (res.ok) location.reload();
    else document.getElementById('status').textContent = (await res.json()).message;
  });
</script>
</body>
</html>
`;
  }
}
