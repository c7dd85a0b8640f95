import { Injectable } from '@nestjs/common';
import { TrackUsage } from 'nestjs-agent-usage';
import { AnthropicMessage, FakeModelClient } from '../fake-model/fake-model.client';
import type { AgentReply, DemoAgent } from './agent.interface';

const PLAN = 'You are a research planner. List the sources to check and the questions to answer.';
const WRITE = 'You are a research writer. Answer with a short, sourced summary following the plan.';

/**
 * A research agent "on Anthropic" that makes two model calls per question (plan, then write): each
 * call is its own usage record (requests = 2), so per-request prices and limits apply per call.
 */
@Injectable()
@TrackUsage({ agentName: 'research', provider: 'anthropic' })
export class ResearchAgent implements DemoAgent {
  readonly name = 'research';
  readonly provider = 'anthropic';
  readonly model = 'claude-sonnet-4-5';
  readonly description = 'Research, two Anthropic messages per question (plan, then write)';

  constructor(private readonly models: FakeModelClient) {}

  async ask(prompt: string): Promise<AgentReply> {
    const plan = await this.message(PLAN, prompt);
    const answer = await this.message(WRITE, prompt);
    return {
      agent: this.name,
      provider: this.provider,
      model: answer.model,
      answer: answer.content.map((c) => c.text).join(''),
      modelCalls: 2,
      providerUsage: [plan.usage, answer.usage],
    };
  }

  /** One model call; its response is recorded when it returns. */
  message(system: string, prompt: string): Promise<AnthropicMessage> {
    return this.models.anthropic.messages.create({
      model: this.model,
      max_tokens: 1024,
      system,
      messages: [{ role: 'user', content: prompt }],
    });
  }
}
