import { Injectable } from '@nestjs/common';
import { TrackUsage } from 'nestjs-agent-usage';
import { FakeModelClient, GeminiGenerateContentResponse } from '../fake-model/fake-model.client';
import type { AgentReply, DemoAgent } from './agent.interface';

const INSTRUCTIONS = 'Summarize the text in three bullet points.';

/**
 * A summarizer "on Gemini". Gemini reports thinking tokens apart from the answer's tokens; the library
 * records them inside outputTokens (and as reasoningTokens), as OpenAI counts them.
 */
@Injectable()
@TrackUsage({ agentName: 'summarizer', provider: 'google' })
export class SummarizerAgent implements DemoAgent {
  readonly name = 'summarizer';
  readonly provider = 'google';
  readonly model = 'gemini-2.5-flash';
  readonly description = 'Summaries, one Gemini generateContent per text';

  constructor(private readonly models: FakeModelClient) {}

  async ask(prompt: string): Promise<AgentReply> {
    const response = await this.generate(prompt);
    return {
      agent: this.name,
      provider: this.provider,
      model: response.modelVersion,
      answer: response.candidates[0].content.parts.map((p) => p.text).join(''),
      modelCalls: 1,
      providerUsage: [response.usageMetadata],
    };
  }

  /** One model call; its response is recorded when it returns. */
  generate(text: string): Promise<GeminiGenerateContentResponse> {
    return this.models.gemini.models.generateContent({
      model: this.model,
      contents: text,
      config: { systemInstruction: INSTRUCTIONS },
    });
  }
}
