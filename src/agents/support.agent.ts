import { Injectable } from '@nestjs/common';
import { TrackUsage } from 'nestjs-agent-usage';
import { FakeModelClient, OpenAiChatCompletion } from '../fake-model/fake-model.client';
import type { AgentReply, DemoAgent } from './agent.interface';

const INSTRUCTIONS = 'You are a friendly customer-support agent. Answer briefly and offer a next step.';

/**
 * A support agent "on OpenAI". @TrackUsage on the class wraps every method: whatever a method returns
 * that is a model response (here the chat completion of `complete`) becomes one usage record,
 * attributed to agent "support" and to the user/chat set by the caller's `runWithContext`.
 */
@Injectable()
@TrackUsage({ agentName: 'support', provider: 'openai' })
export class SupportAgent implements DemoAgent {
  readonly name = 'support';
  readonly provider = 'openai';
  readonly model = 'gpt-5-mini';
  readonly description = 'Customer support, one OpenAI chat completion per question';

  constructor(private readonly models: FakeModelClient) {}

  async ask(prompt: string): Promise<AgentReply> {
    const completion = await this.complete(prompt);
    return {
      agent: this.name,
      provider: this.provider,
      model: completion.model,
      answer: completion.choices[0].message.content,
      modelCalls: 1,
      providerUsage: [completion.usage],
    };
  }

  /** One model call; its response is recorded when it returns. */
  complete(prompt: string): Promise<OpenAiChatCompletion> {
    return this.models.openai.chat.completions.create({
      model: this.model,
      messages: [
        { role: 'system', content: INSTRUCTIONS },
        { role: 'user', content: prompt },
      ],
    });
  }
}
