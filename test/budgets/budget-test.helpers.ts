import { INestApplication, Injectable, LoggerService, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ScheduleModule } from '@nestjs/schedule';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TrackUsage, UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { USAGE_CLOCK } from 'nestjs-agent-usage/testing';

export const PG_URL = process.env.USAGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.USAGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * One clock for everything: Jest's fake `Date` (timers stay real, and the fake clock moves on with real
 * time), so the records agents make, the budget windows and the threshold job all read the same instant,
 * and records really land in the window under test. `set()` jumps it. Restore with `jest.useRealTimers()`
 * (Jest also does between test files).
 */
export class TestClock {
  constructor(start: Date) {
    jest.useFakeTimers({
      now: start,
      advanceTimers: true,
      doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
    });
  }
  get current(): Date {
    return new Date();
  }
  /** The clock as a function, for the USAGE_CLOCK seam (it reads the same fake `Date`). */
  readonly fn = (): Date => new Date();
  set(iso: string): void {
    jest.setSystemTime(new Date(iso));
  }
}

/** An OpenAI-style response with `tokens` total tokens (half in, half out). */
export function chatResponse(tokens: number, model = 'gpt-4o') {
  const input = Math.ceil(tokens / 2);
  return { object: 'chat.completion', model, choices: [{ message: { content: 'ok' } }], usage: { prompt_tokens: input, completion_tokens: tokens - input, total_tokens: tokens } };
}

@Injectable()
@TrackUsage({ agentName: 'support', provider: 'openai', model: 'gpt-4o' })
export class SupportAgent {
  tokens = 100;
  delayMs = 0;
  calls = 0;
  async respond(_q: string) {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return chatResponse(this.tokens);
  }
}

@Injectable()
@TrackUsage({ agentName: 'research', provider: 'anthropic', model: 'claude-sonnet-4' })
export class ResearchAgent {
  async respond(_q: string) {
    return { type: 'message', model: 'claude-sonnet-4', usage: { input_tokens: 40, output_tokens: 10 } };
  }
}

export interface BootOptions {
  clock?: TestClock;
  providers?: Provider[];
  controllers?: any[];
  schedule?: boolean;
  events?: boolean;
  logger?: false | ('log' | 'warn' | 'error')[] | LoggerService;
}

/** Boots a real Nest app the way a host does: the host imports ScheduleModule / EventEmitterModule. */
export async function bootApp(options: UsageTrackingModuleOptions, boot: BootOptions = {}): Promise<INestApplication> {
  const imports: any[] = [];
  if (boot.schedule !== false) imports.push(ScheduleModule.forRoot());
  if (boot.events !== false) imports.push(EventEmitterModule.forRoot());
  imports.push(UsageTrackingModule.forRoot(options));
  const providers: Provider[] = [SupportAgent, ResearchAgent, ...(boot.providers ?? [])];
  if (boot.clock) providers.push({ provide: USAGE_CLOCK, useValue: boot.clock.fn });
  const moduleRef = await Test.createTestingModule({ imports, providers, controllers: boot.controllers ?? [] }).compile();
  const app = moduleRef.createNestApplication({ logger: boot.logger ?? false });
  await app.init();
  return app;
}

export const unique = (label: string) => `${label}_${process.pid}_${Date.now().toString(36)}`;

/** Collects log lines (to assert on warnings and the `log` action). */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; message: string }[] = [];
  log(message: unknown) {
    this.lines.push({ level: 'log', message: String(message) });
  }
  warn(message: unknown) {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  error(message: unknown) {
    this.lines.push({ level: 'error', message: String(message) });
  }
  debug() {}
  verbose() {}
  matching(level: string, re: RegExp) {
    return this.lines.filter((l) => l.level === level && re.test(l.message));
  }
}
