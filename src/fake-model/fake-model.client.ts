import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';

/**
 * A local stand-in for three model APIs: no network, no key, deterministic answers. Each method has
 * the shape of the real SDK call and returns the provider's real response shape, usage included, so
 * the agents look like production code and nestjs-agent-usage normalizes them as it would real ones.
 *
 * Token counts (u = ceil(characters of the user prompt / 4), at least 1; the agent's instructions are
 * INSTRUCTION_TOKENS = 24 tokens, always served from the provider's prompt cache):
 *
 * | API | what the response says |
 * |---|---|
 * | OpenAI chat completion | prompt_tokens = 24 + u (prompt_tokens_details.cached_tokens = 24), completion_tokens = 2u + 8 (completion_tokens_details.reasoning_tokens = u), total_tokens = 3u + 32 |
 * | Anthropic message | input_tokens = u (excludes cache), cache_read_input_tokens = 24, cache_creation_input_tokens = 16 (the turn's context block, written for the next turn), output_tokens = 2u + 8 |
 * | Gemini generateContent | promptTokenCount = 24 + u (cachedContentTokenCount = 24), candidatesTokenCount = u + 8, thoughtsTokenCount = u (excluded from candidates), totalTokenCount = 3u + 32 |
 *
 * Recorded by the library (inclusive counts): OpenAI and Gemini calls as input 24 + u (cached 24),
 * output 2u + 8 (reasoning u), total 3u + 32; Anthropic calls as input u + 40 (cached 24, cache
 * writes 16), output 2u + 8 (reasoning unknown), total 3u + 48.
 */
export const INSTRUCTION_TOKENS = 24;
export const CONTEXT_BLOCK_TOKENS = 16;

/** Tokens of a user prompt in the fake models: one per 4 characters, rounded up, at least 1. */
export function promptTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface OpenAiChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: number; message: { role: 'assistant'; content: string }; finish_reason: 'stop' }[];
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
    completion_tokens_details: { reasoning_tokens: number; audio_tokens: number };
  };
}

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: { type: 'text'; text: string }[];
  stop_reason: 'end_turn';
  stop_sequence: null;
  usage: {
    input_tokens: number;
    cache_read_input_tokens: number;
    cache_creation_input_tokens: number;
    output_tokens: number;
  };
}

export interface GeminiGenerateContentResponse {
  responseId: string;
  modelVersion: string;
  candidates: { content: { role: 'model'; parts: { text: string }[] }; finishReason: 'STOP'; index: number }[];
  usageMetadata: {
    promptTokenCount: number;
    cachedContentTokenCount: number;
    candidatesTokenCount: number;
    thoughtsTokenCount: number;
    totalTokenCount: number;
  };
}

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  throw new Error('fake model: the request has no user message');
}

function shortId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 24);
}

/** A deterministic "answer": the same prompt always gets the same text. */
function answerFor(model: string, prompt: string): string {
  const quoted = prompt.length > 80 ? `${prompt.slice(0, 77)}...` : prompt;
  return `(${model}, simulated) You asked: "${quoted}". A real model would answer here.`;
}

/** Resolves on a later tick, as a network call would. */
function later<T>(value: T): Promise<T> {
  return new Promise((resolve) => setImmediate(() => resolve(value)));
}

@Injectable()
export class FakeModelClient {
  /** `openai.chat.completions.create(...)` of the OpenAI SDK. */
  readonly openai = {
    chat: {
      completions: {
        create: (req: { model: string; messages: ChatMessage[] }): Promise<OpenAiChatCompletion> => {
          const prompt = lastUserText(req.messages);
          const u = promptTokens(prompt);
          const prompt_tokens = INSTRUCTION_TOKENS + u;
          const completion_tokens = 2 * u + 8;
          return later({
            id: `chatcmpl-${shortId(req.model, prompt)}`,
            object: 'chat.completion',
            created: Math.floor(Date.now() / 1000),
            model: req.model,
            choices: [{ index: 0, message: { role: 'assistant', content: answerFor(req.model, prompt) }, finish_reason: 'stop' }],
            usage: {
              prompt_tokens,
              completion_tokens,
              total_tokens: prompt_tokens + completion_tokens,
              prompt_tokens_details: { cached_tokens: INSTRUCTION_TOKENS, audio_tokens: 0 },
              completion_tokens_details: { reasoning_tokens: u, audio_tokens: 0 },
            },
          });
        },
      },
    },
  };

  /** `anthropic.messages.create(...)` of the Anthropic SDK. */
  readonly anthropic = {
    messages: {
      create: (req: { model: string; max_tokens: number; system?: string; messages: ChatMessage[] }): Promise<AnthropicMessage> => {
        const prompt = lastUserText(req.messages);
        const u = promptTokens(prompt);
        return later({
          id: `msg_${shortId(req.model, req.system ?? '', prompt)}`,
          type: 'message',
          role: 'assistant',
          model: req.model,
          content: [{ type: 'text', text: answerFor(req.model, prompt) }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: {
            input_tokens: u,
            cache_read_input_tokens: INSTRUCTION_TOKENS,
            cache_creation_input_tokens: CONTEXT_BLOCK_TOKENS,
            output_tokens: 2 * u + 8,
          },
        });
      },
    },
  };

  /** `ai.models.generateContent(...)` of the Google Gen AI SDK. */
  readonly gemini = {
    models: {
      generateContent: (req: { model: string; contents: string; config?: { systemInstruction?: string } }): Promise<GeminiGenerateContentResponse> => {
        const u = promptTokens(req.contents);
        const promptTokenCount = INSTRUCTION_TOKENS + u;
        const candidatesTokenCount = u + 8;
        const thoughtsTokenCount = u;
        return later({
          responseId: shortId(req.model, req.contents),
          modelVersion: req.model,
          candidates: [{ content: { role: 'model', parts: [{ text: answerFor(req.model, req.contents) }] }, finishReason: 'STOP', index: 0 }],
          usageMetadata: {
            promptTokenCount,
            cachedContentTokenCount: INSTRUCTION_TOKENS,
            candidatesTokenCount,
            thoughtsTokenCount,
            totalTokenCount: promptTokenCount + candidatesTokenCount + thoughtsTokenCount,
          },
        });
      },
    },
  };
}
