/**
 * The printable invoice page: self-contained HTML, every value escaped, no script; its stylesheet is
 * served by the module (`<path>/invoice/invoice.css`, a public asset), so a Content-Security-Policy
 * without 'unsafe-inline' works.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** What the page reads of the invoice (the service's UsageInvoice, camelCase). */
export interface InvoiceView {
  periodStart: string;
  periodEnd: string;
  timeZone: string;
  currency: string;
  lineItems: readonly { category: string; description: string; usage: number | string; unit: string; costExact: string }[];
  subtotalExact: string;
  discountPercent: number;
  discountExact: string;
  totalExact: string;
}

/** Exact decimal string rounded half-up to cents for display ("12.345000000" -> "12.35"). */
export function cents(exact: string): string {
  const neg = exact.startsWith('-');
  const [whole, frac = ''] = (neg ? exact.slice(1) : exact).split('.');
  let c = BigInt(whole) * 100n + BigInt((frac + '00').slice(0, 2));
  if ((frac[2] ?? '0') >= '5') c += 1n;
  const s = `${c / 100n}.${(c % 100n).toString().padStart(2, '0')}`;
  return neg && c !== 0n ? `-${s}` : s;
}

/** `stylesheet`: the stylesheet's URL, from the root (the page may be read from a blob: URL, see the dashboard). */
export function invoiceHtml(invoice: InvoiceView, title: string, stylesheet: string): string {
  const money = (exact: string) => `${escapeHtml(invoice.currency)} ${escapeHtml(cents(exact))}`;
  const rows = invoice.lineItems
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.category)}</td><td>${escapeHtml(l.description)}</td>` +
        `<td class="num">${escapeHtml(l.usage)} ${escapeHtml(l.unit)}</td><td class="num" title="${escapeHtml(l.costExact)}">${money(l.costExact)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${escapeHtml(stylesheet)}">
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p class="period">${escapeHtml(invoice.periodStart)} to ${escapeHtml(invoice.periodEnd)} (${escapeHtml(invoice.timeZone)})</p>
<table>
<thead><tr><th>Category</th><th>Description</th><th class="num">Usage</th><th class="num">Cost</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="4">No usage in this month.</td></tr>'}
</tbody>
<tfoot>
<tr><th colspan="3">Subtotal</th><td class="num">${money(invoice.subtotalExact)}</td></tr>
<tr><th colspan="3">Discount (${escapeHtml(invoice.discountPercent)}%)</th><td class="num">-${money(invoice.discountExact)}</td></tr>
<tr class="total"><th colspan="3">Total</th><td class="num">${money(invoice.totalExact)}</td></tr>
</tfoot>
</table>
</main>
</body>
</html>
`;
}

export const INVOICE_CSS = `body{font:14px/1.5 system-ui,sans-serif;color:#111;background:#fff;margin:0}
main{max-width:52rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}
.period{color:#555;margin:0 0 1.5rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tfoot th{text-align:right;font-weight:normal}
tfoot .total th,tfoot .total td{font-weight:bold;border-top:2px solid #111}
@media print{main{margin:0;max-width:none}a{color:inherit}}
`;
