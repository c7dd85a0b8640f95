import type { INestApplication } from '@nestjs/common';
import { UsageService } from 'nestjs-agent-usage';
import { AgentDirectory } from './agents/agent-directory';

const QUESTIONS = [
  'Where is my order #1234?',
  'Summarise the last three support tickets about refunds.',
  'Which plan includes single sign-on, and what does it cost per seat?',
  'Compare our churn in October and November and explain the difference.',
  'Draft a short apology for the delayed shipment.',
];
const USERS = ['alice', 'bob', 'carol', 'dave'];
const HISTORY_ONLY = [
  { name: 'billing', provider: 'openai', model: 'gpt-4o-mini' },
  { name: 'triage', provider: 'openai', model: 'gpt-4o' },
];

/**
 * Traffic so the dashboard opens with something to show (run by `npm run demo` only, never by the
 * tests, which count exact tokens; `DEMO_TRAFFIC=0` turns it off):
 * - live: the research and summarizer agents answer a few questions now, through @TrackUsage and the
 *   fake model (support is left out: its small hourly budget stays whole for you to trip);
 * - history: 14 earlier days of calls recorded with usage.record() and fixed ids, so a restart
 *   writes the same records again (stores are idempotent on id) instead of adding more. Support has
 *   none either (a record counts in its budget's current window whatever its date); two agents that
 *   only exist in this history (billing, triage) make the fleet and the breakdowns fuller.
 */
/** Returns the number of model calls generated (one record each). */
export async function generateDemoTraffic(app: INestApplication, now = new Date()): Promise<number> {
  const usage = app.get(UsageService);
  const agents = app.get(AgentDirectory);
  let calls = 0;
  for (const [i, prompt] of QUESTIONS.entries()) {
    for (const name of agents.names().filter((n) => n !== 'support')) {
      const userId = USERS[(i + name.length) % USERS.length];
      const reply = await usage.runWithContext({ userId, chatName: `demo-${i}` }, () => agents.get(name)!.ask(prompt));
      calls += reply.modelCalls;
    }
  }
  for (let day = 1; day <= 14; day++) {
    for (const info of [...agents.list().filter((a) => a.name !== 'support'), ...HISTORY_ONLY]) {
      // A weekly rhythm and a different size per agent, so the trend and the breakdowns have a shape.
      const n = 3 + ((day * 5 + info.name.length) % 7);
      for (let k = 0; k < n; k++) {
        // The id names the day the record stands for (now - day, exactly `day` days apart, so never the same
        // date twice in one start); its time may fall on the evening before, which must not make it collide.
        const date = new Date(now.getTime() - day * 86_400_000).toISOString().slice(0, 10);
        const at = new Date(now.getTime() - day * 86_400_000 - ((k * 97 + day * 31) % 720) * 60_000);
        const input = 400 + ((k * 389 + day * 211) % 3_600);
        usage.record({
          id: `demo-history-${date}-${info.name}-${k}`,
          agentName: info.name,
          providerName: info.provider,
          modelName: info.model,
          userId: USERS[(k + day) % USERS.length],
          inputTokens: input,
          cachedInputTokens: k % 3 === 0 ? Math.floor(input / 2) : 0,
          outputTokens: 60 + ((k * 173 + day * 59) % 700),
          success: (k + day) % 17 !== 0,
          recordedAt: at,
        });
        calls++;
      }
    }
  }
  await usage.flush();
  return calls;
}
