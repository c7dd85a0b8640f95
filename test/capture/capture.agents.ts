import { Inject, Injectable, INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, tool as agentTool } from '@openai/agents';
import { generateText, isStepCount, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { z } from 'zod';
import { TrackUsage, UsagePricingService, UsageService, UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import type { FakeProviderServer } from './fake-provider.server';

/**
 * Agents of a real Nest app, each calling a REAL client SDK pointed at the local fake provider. Methods
 * return what the SDK returns (responses, raw streams, helper streams, run results) untouched, as an
 * app's agents do; the tests consume them as a caller would.
 */
export const SDK_CLIENTS = Symbol('SDK_CLIENTS');

export interface SdkClients {
  openai: OpenAI;
  anthropic: Anthropic;
  gemini: GoogleGenAI;
  aiOpenAI: ReturnType<typeof createOpenAI>;
  aiAnthropic: ReturnType<typeof createAnthropic>;
  runner: Runner;
}

export function sdkClients(server: FakeProviderServer): SdkClients {
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test', maxRetries: 0 });
  return {
    openai,
    anthropic: new Anthropic({ baseURL: server.url, apiKey: 'test', maxRetries: 0 }),
    // Node's own fetch, passed explicitly: the SDK's default path reaches for Undici's process-wide
    // dispatcher, which Jest's sandboxed globals do not expose.
    gemini: new GoogleGenAI({ apiKey: 'test', httpOptions: { baseUrl: server.url, fetch: (input, init) => fetch(input, init) } }),
    aiOpenAI: createOpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test' }),
    aiAnthropic: createAnthropic({ baseURL: `${server.url}/v1`, apiKey: 'test' }),
    // Model objects carry their own client: no global default client is needed.
    runner: new Runner({ tracingDisabled: true }),
  };
}

const user = (content: string) => [{ role: 'user' as const, content }];

@Injectable()
@TrackUsage({ agentName: 'openai-agent' })
export class OpenAiAgent {
  constructor(@Inject(SDK_CLIENTS) private readonly c: SdkClients) {}
  chat(model: string) {
    return this.c.openai.chat.completions.create({ model, messages: user('hi') });
  }
  chatStream(model: string) {
    return this.c.openai.chat.completions.create({ model, messages: user('hi'), stream: true, stream_options: { include_usage: true } });
  }
  chatHelper(model: string) {
    return this.c.openai.chat.completions.stream({ model, messages: user('hi'), stream_options: { include_usage: true } });
  }
  responses(model: string) {
    return this.c.openai.responses.create({ model, input: 'hi' });
  }
  responsesStream(model: string) {
    return this.c.openai.responses.create({ model, input: 'hi', stream: true });
  }
  responsesHelper(model: string) {
    return this.c.openai.responses.stream({ model, input: 'hi' });
  }
}

@Injectable()
@TrackUsage({ agentName: 'claude-agent' })
export class AnthropicAgent {
  constructor(@Inject(SDK_CLIENTS) private readonly c: SdkClients) {}
  message(model: string) {
    return this.c.anthropic.messages.create({ model, max_tokens: 1024, messages: user('hi') });
  }
  stream(model: string) {
    return this.c.anthropic.messages.create({ model, max_tokens: 1024, messages: user('hi'), stream: true });
  }
  helper(model: string) {
    return this.c.anthropic.messages.stream({ model, max_tokens: 1024, messages: user('hi') });
  }
}

@Injectable()
@TrackUsage({ agentName: 'gemini-agent' })
export class GeminiAgent {
  constructor(@Inject(SDK_CLIENTS) private readonly c: SdkClients) {}
  generate(model: string) {
    return this.c.gemini.models.generateContent({ model, contents: 'hi' });
  }
  stream(model: string) {
    return this.c.gemini.models.generateContentStream({ model, contents: 'hi' });
  }
}

const addTool = agentTool({ name: 'add', description: 'adds', parameters: z.object({ a: z.number() }), execute: async ({ a }) => String(a + 1) });

@Injectable()
@TrackUsage({ agentName: 'runner-agent' })
export class AgentsSdkAgent {
  /** Triage on the Responses API (gpt-4.1, answered dated) hands off to a Chat Completions Model object. */
  readonly spanish: Agent;
  readonly triage: Agent;
  readonly tooly: Agent;
  constructor(@Inject(SDK_CLIENTS) private readonly c: SdkClients) {
    this.spanish = new Agent({ name: 'spanish', instructions: 'Answer in Spanish.', model: new OpenAIChatCompletionsModel(c.openai as any, 'gpt-4o-mini') });
    this.triage = new Agent({ name: 'triage', instructions: 'Route.', model: new OpenAIResponsesModel(c.openai as any, 'gpt-4.1'), handoffs: [this.spanish] });
    this.tooly = new Agent({ name: 'tooly', instructions: 'Use tools.', model: new OpenAIResponsesModel(c.openai as any, 'gpt-4o-mini'), tools: [addTool] });
  }
  handoff(input: string) {
    return this.c.runner.run(this.triage, input);
  }
  tools(input: string) {
    return this.c.runner.run(this.tooly, input);
  }
  handoffStream(input: string) {
    return this.c.runner.run(this.triage, input, { stream: true });
  }
  toolsStream(input: string) {
    return this.c.runner.run(this.tooly, input, { stream: true });
  }
}

const weather = tool({ description: 'weather', inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `sunny in ${city}` });

@Injectable()
@TrackUsage({ agentName: 'vercel-agent' })
export class AiSdkAgent {
  constructor(@Inject(SDK_CLIENTS) private readonly c: SdkClients) {}
  private model(kind: 'responses' | 'chat' | 'anthropic', name: string) {
    return kind === 'responses' ? this.c.aiOpenAI(name) : kind === 'chat' ? this.c.aiOpenAI.chat(name) : this.c.aiAnthropic(name);
  }
  /** Multi-step: the model calls the tool, then answers. */
  generate(kind: 'responses' | 'chat' | 'anthropic', name: string) {
    return generateText({ model: this.model(kind, name), prompt: 'weather?', tools: { weather }, stopWhen: isStepCount(3) });
  }
  stream(kind: 'responses' | 'chat' | 'anthropic', name: string) {
    return streamText({ model: this.model(kind, name), prompt: 'weather?', tools: { weather }, stopWhen: isStepCount(3) });
  }
}

/** Returns another tracked agent's stream (item 5). */
@Injectable()
@TrackUsage({ agentName: 'outer-agent' })
export class OuterAgent {
  constructor(
    private readonly openai: OpenAiAgent,
    private readonly claude: AnthropicAgent,
  ) {}
  async relayChatStream(model: string) {
    return this.openai.chatStream(model);
  }
  relayClaudeHelper(model: string) {
    return this.claude.helper(model);
  }
  async relayChat(model: string) {
    return this.openai.chat(model);
  }
}

export const CAPTURE_AGENTS = [OpenAiAgent, AnthropicAgent, GeminiAgent, AgentsSdkAgent, AiSdkAgent, OuterAgent];

export interface CaptureApp {
  app: INestApplication;
  usage: UsageService;
  pricing: UsagePricingService;
  get<T>(type: new (...args: any[]) => T): T;
}

/** Boots a real Nest app with the agents above and the tracking module. */
export async function bootCaptureApp(server: FakeProviderServer, options: UsageTrackingModuleOptions = {}): Promise<CaptureApp> {
  @Module({ providers: [{ provide: SDK_CLIENTS, useValue: sdkClients(server) }], exports: [SDK_CLIENTS] })
  class ClientsModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [ClientsModule, UsageTrackingModule.forRoot({ trackUsage: true, ...options })],
    providers: CAPTURE_AGENTS,
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, usage: app.get(UsageService), pricing: app.get(UsagePricingService), get: (t) => app.get(t) };
}
