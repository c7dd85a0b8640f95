/** The API's answers as the page reads them (snake_case JSON; money as a number plus an exact string). */

export type Period = 'today' | 'yesterday' | 'week' | 'month' | 'all_time';

export interface Range {
  period: Period | 'custom';
  start_date: string | null;
  end_date: string | null;
  time_zone: string;
  week_starts_on?: string;
}

export interface Summary {
  range: Range;
  amount_spent: number;
  amount_spent_exact: string;
  operation_count: number;
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  avg_cost_per_operation: number;
  avg_cost_per_operation_exact: string;
  success_rate: number | null;
  top_models: { model: string; provider?: string; cost: number; cost_exact: string; calls: number; tokens: number }[];
}

export interface BreakdownRow {
  key: string | null;
  cost: number;
  cost_exact: string;
  calls: number;
  tokens: number;
  avg_per_call: number;
  avg_per_call_exact: string;
  percent: number;
}

export interface Breakdown {
  range: Range;
  group_by: string;
  total: number;
  total_exact: string;
  [list: string]: unknown;
}

export interface DayRow {
  date: string;
  cost: number;
  cost_exact: string;
  operations: number;
  tokens: number;
}

export interface Analytics {
  range: Range;
  daily_usage: DayRow[];
  summary: { total: number; total_exact: string; daily_average: number; daily_average_exact: string; peak_day: unknown; lowest_day: unknown; operations: number };
  hourly_usage?: { hour: number; avg_cost: number; avg_cost_exact: string; avg_operations: number }[];
  series?: { key: string | null; other?: true; daily_usage: DayRow[] }[];
}

export interface FleetAgent {
  name: string;
  spent: number;
  spent_exact: string;
  budget: number | null;
  budget_exact: string | null;
  budget_source: string | null;
  budget_window: 'hour' | 'day' | 'week' | 'month' | null;
  window_spent: number | null;
  window_spent_exact: string | null;
  percent: number | null;
  operations: number;
  status: 'LOW' | 'NORMAL' | 'WARNING' | 'CRITICAL' | null;
  projection: { estimated_total: number; estimated_total_exact: string; percent: number; will_exceed_budget: boolean; window_start: string; window_end: string } | null;
}

export interface Fleet {
  range: Range;
  agents: FleetAgent[];
  totals: { spent: number; spent_exact: string; budget: number | null; budget_exact: string | null; operations: number; agents: number; status_counts: { low: number; normal: number; warning: number; critical: number; no_budget: number } };
}

export type LogItem = Record<string, unknown> & { id: string; cost: number | null; cost_exact: string | null };

export interface Logs {
  items: LogItem[];
  next_cursor: string | null;
  limit: number;
}

export interface Recommendation {
  id: string;
  type: string;
  title: string;
  problem: string;
  solution: string;
  estimated_savings: number;
  estimated_savings_exact: string;
  percent_reduction: number;
  priority: 'high' | 'medium' | 'low';
  action: Record<string, unknown>;
  evidence?: Record<string, unknown>;
}

export interface Recommendations {
  range: Range;
  recommendations: Recommendation[];
  total_estimated_savings: number;
  total_estimated_savings_exact: string;
}

export interface Alert {
  id: string;
  agent_name?: string;
  scope?: { dimension: string; value: string };
  daily_budget?: string | number;
  limit?: string | number;
  window?: string;
  metric?: string;
  alerts: { percent: number; action: string }[];
  webhook_url?: string;
  created_at: string;
  paused: boolean;
}
