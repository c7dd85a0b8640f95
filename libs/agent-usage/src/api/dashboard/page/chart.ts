/**
 * Bar charts drawn with uPlot (canvas). Stacks are drawn as cumulative bars, top layer first, so each
 * layer covers the one above it up to its own height; the legend shows each layer's own value.
 */
import uPlot from 'uplot';
import { compact } from './format';

export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8c8c8c'];

export interface Layer {
  label: string;
  values: number[];
}

export interface BarChartSpec {
  labels: string[];
  layers: Layer[];
  /** Formats a y value (axis and legend). */
  y: (v: number) => string;
  height?: number;
}

/**
 * A theme colour as the canvas needs it: the variables hold light-dark() pairs, which only an element's
 * computed colour resolves (set through the CSSOM, which the CSP allows).
 */
function cssVar(name: string): string {
  const probe = document.createElement('span');
  probe.style.color = `var(${name})`;
  document.body.appendChild(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour || '#888';
}

export class BarChart {
  private plot: uPlot | null = null;
  private readonly observer: ResizeObserver;

  constructor(
    private readonly host: HTMLElement,
    private spec: BarChartSpec,
  ) {
    this.observer = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.spec.height ?? 240 }));
    this.observer.observe(host);
    this.draw();
  }

  private width(): number {
    return Math.max(240, this.host.clientWidth);
  }

  /** Redraws with the current theme's colours (called when the theme changes). */
  draw(spec: BarChartSpec = this.spec): void {
    this.spec = spec;
    this.plot?.destroy();
    const { labels, layers } = spec;
    const cumulative: number[][] = [];
    let below = labels.map(() => 0);
    for (const layer of layers) {
      below = below.map((b, i) => b + (layer.values[i] ?? 0));
      cumulative.push(below);
    }
    // Top layer first: uPlot paints series in order, later ones over earlier ones.
    const order = layers.map((_, i) => i).reverse();
    const axis = cssVar('--muted');
    const grid = cssVar('--grid');
    const bars = uPlot.paths.bars!({ size: [0.7, 48], align: 0 });
    const opts: uPlot.Options = {
      width: this.width(),
      height: spec.height ?? 240,
      scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { stroke: axis, grid: { show: false }, ticks: { stroke: grid }, values: (_u, splits) => splits.map((i) => labels[i] ?? ''), space: 48 },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, values: (_u, splits) => splits.map((v) => spec.y(v)), size: 64 },
      ],
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { show: true, live: true },
      series: [
        { label: 'x', value: (_u, i) => (i === null ? '' : labels[i] ?? '') },
        ...order.map((li) => ({
          label: layers[li].label,
          stroke: PALETTE[li % PALETTE.length],
          fill: PALETTE[li % PALETTE.length],
          width: 0,
          paths: bars,
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) => (idx === null ? '' : spec.y(layers[li].values[idx] ?? 0)),
        })),
      ],
    };
    const data: uPlot.AlignedData = [labels.map((_, i) => i), ...order.map((li) => cumulative[li])];
    this.plot = new uPlot(opts, data, this.host);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

export const tokensAxis = compact;
