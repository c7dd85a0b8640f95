import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local model provider for the real-SDK capture tests. It answers in the providers' real wire
 * formats (OpenAI Chat Completions and Responses, Anthropic Messages, Gemini generateContent), as JSON
 * or as SSE streams, and varies the usage of every request: cache reads, cache writes, reasoning /
 * thinking, Gemini tool-use prompt tokens. It calls the first tool it is offered until the conversation
 * holds a tool result, so agents can run tools and hand off. It keeps a ledger of what it sent, in the
 * record's inclusive semantics, as a wire-level cross-check of the tests' expectations.
 */

/** One request's usage, inclusive (as a UsageRecord counts): input includes cache reads and writes. */
export interface FakeUsage {
  input: number;
  cached: number;
  cacheWrite: number;
  output: number;
  reasoning: number;
  /** Gemini only: toolUsePromptTokenCount (part of the input). */
  toolUse: number;
}

export interface LedgerEntry extends FakeUsage {
  api: 'chat' | 'responses' | 'anthropic' | 'gemini';
  /** The model the request asked for, and the one the answer names. */
  requested: string;
  answered: string;
  stream: boolean;
  toolCall: boolean;
}

type Obj = Record<string, any>;

/** Aliases the fake answers with a dated id, as the real APIs do. */
const DATED: Record<string, string> = { 'gpt-4.1': 'gpt-4.1-2025-04-14', 'claude-sonnet-4-0': 'claude-sonnet-4-20250514' };

export class FakeProviderServer {
  readonly ledger: LedgerEntry[] = [];
  private server: Server | null = null;
  private n = 0;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err?.message ?? err), type: 'server_error' } }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** Sum of the ledger (inclusive), the wire truth. */
  totals(): FakeUsage & { requests: number } {
    const t = { requests: 0, input: 0, cached: 0, cacheWrite: 0, output: 0, reasoning: 0, toolUse: 0 };
    for (const e of this.ledger) {
      t.requests++;
      t.input += e.input;
      t.cached += e.cached;
      t.cacheWrite += e.cacheWrite;
      t.output += e.output;
      t.reasoning += e.reasoning;
      t.toolUse += e.toolUse;
    }
    return t;
  }

  /** Varied usage: some requests read the cache, some write it, some reason, some do all three. */
  private nextUsage(gemini: boolean): FakeUsage {
    const k = ++this.n;
    const input = 40 + ((k * 37) % 500);
    const cached = k % 3 === 0 ? 0 : (k * 11) % Math.floor(input / 2);
    const cacheWrite = gemini || k % 4 === 0 ? 0 : (k * 7) % Math.floor(input / 3);
    const output = 5 + ((k * 29) % 300);
    const reasoning = k % 2 === 0 ? (k * 5) % output : 0;
    const toolUse = gemini && k % 2 === 1 ? 3 + (k % 17) : 0;
    return { input: input + toolUse, cached, cacheWrite, output, reasoning, toolUse };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body: Obj = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname.endsWith('/chat/completions')) return this.chat(body, res);
    if (req.method === 'POST' && url.pathname.endsWith('/responses')) return this.responses(body, res);
    if (req.method === 'POST' && url.pathname.endsWith('/messages')) return this.anthropic(body, res);
    const gem = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
    if (req.method === 'POST' && gem) return this.gemini(decodeURIComponent(gem[1]), gem[2] === 'streamGenerateContent', body, res);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url.pathname}`, type: 'not_found' } }));
  }

  private log(api: LedgerEntry['api'], requested: string, stream: boolean, toolCall: boolean, u: FakeUsage): string {
    const answered = DATED[requested] ?? requested;
    this.ledger.push({ api, requested, answered, stream, toolCall, ...u });
    return answered;
  }

  // ---- OpenAI Chat Completions -------------------------------------------------------------------

  private chat(body: Obj, res: ServerResponse): void {
    const tool = firstTool(body.tools, (t) => t.function) as Obj | null;
    const call = tool && !(body.messages ?? []).some((m: Obj) => m.role === 'tool') ? tool : null;
    const u = this.nextUsage(false);
    const stream = body.stream === true;
    const model = this.log('chat', body.model, stream, !!call, u);
    const id = `chatcmpl-${this.n}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = {
      prompt_tokens: u.input,
      completion_tokens: u.output,
      total_tokens: u.input + u.output,
      prompt_tokens_details: { cached_tokens: u.cached, cache_write_tokens: u.cacheWrite, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: u.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    const toolCall = call && { id: `call_${this.n}`, type: 'function', function: { name: call.name, arguments: JSON.stringify(argsFor(call.parameters)) } };
    const text = `answer ${this.n}`;
    if (!stream) {
      return json(res, {
        id,
        object: 'chat.completion',
        created,
        model,
        system_fingerprint: 'fp_fake',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: call ? null : text, refusal: null, ...(toolCall ? { tool_calls: [toolCall] } : {}) },
            logprobs: null,
            finish_reason: call ? 'tool_calls' : 'stop',
          },
        ],
        usage,
      });
    }
    const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake' };
    const events: Obj[] = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }];
    if (toolCall) {
      events.push({
        ...base,
        choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: toolCall.id, type: 'function', function: { name: toolCall.function.name, arguments: '' } }] }, logprobs: null, finish_reason: null }],
      });
      events.push({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: toolCall.function.arguments } }] }, logprobs: null, finish_reason: null }] });
    } else {
      for (const piece of [text.slice(0, 3), text.slice(3)]) events.push({ ...base, choices: [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }] });
    }
    events.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: call ? 'tool_calls' : 'stop' }] });
    if (body.stream_options?.include_usage) events.push({ ...base, choices: [], usage });
    sse(res, events.map((e) => ({ data: e })), true);
  }

  // ---- OpenAI Responses --------------------------------------------------------------------------

  private responses(body: Obj, res: ServerResponse): void {
    const tool = firstTool(body.tools, (t) => (t.type === 'function' ? t : null)) as Obj | null;
    const input = Array.isArray(body.input) ? body.input : [];
    const call = tool && !input.some((i: Obj) => i.type === 'function_call_output') ? tool : null;
    const u = this.nextUsage(false);
    const stream = body.stream === true;
    const model = this.log('responses', body.model, stream, !!call, u);
    const id = `resp_${this.n}`;
    const usage = {
      input_tokens: u.input,
      input_tokens_details: { cached_tokens: u.cached, cache_write_tokens: u.cacheWrite },
      output_tokens: u.output,
      output_tokens_details: { reasoning_tokens: u.reasoning },
      total_tokens: u.input + u.output,
    };
    const text = `answer ${this.n}`;
    const item: Obj = call
      ? { type: 'function_call', id: `fc_${this.n}`, call_id: `call_${this.n}`, name: call.name, arguments: JSON.stringify(argsFor(call.parameters)), status: 'completed' }
      : { type: 'message', id: `msg_${this.n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
    const response = (status: string, output: Obj[], withUsage: boolean): Obj => ({
      id,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status,
      error: null,
      incomplete_details: null,
      instructions: body.instructions ?? null,
      max_output_tokens: null,
      model,
      output,
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: body.tools ?? [],
      top_p: 1,
      truncation: 'disabled',
      usage: withUsage ? usage : null,
      metadata: {},
    });
    if (!stream) return json(res, response('completed', [item], true));
    let seq = 0;
    const ev = (type: string, rest: Obj) => ({ event: type, data: { type, sequence_number: seq++, ...rest } });
    const events = [ev('response.created', { response: response('in_progress', [], false) }), ev('response.in_progress', { response: response('in_progress', [], false) })];
    if (call) {
      events.push(ev('response.output_item.added', { output_index: 0, item: { ...item, arguments: '', status: 'in_progress' } }));
      events.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: item.arguments }));
      events.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments }));
    } else {
      events.push(ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }));
      events.push(ev('response.content_part.added', { item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } }));
      for (const piece of [text.slice(0, 3), text.slice(3)]) {
        events.push(ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: piece, logprobs: [] }));
      }
      events.push(ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text, logprobs: [] }));
      events.push(ev('response.content_part.done', { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] }));
    }
    events.push(ev('response.output_item.done', { output_index: 0, item }));
    events.push(ev('response.completed', { response: response('completed', [item], true) }));
    sse(res, events, false);
  }

  // ---- Anthropic Messages ------------------------------------------------------------------------

  private anthropic(body: Obj, res: ServerResponse): void {
    const tool = firstTool(body.tools, (t) => t) as Obj | null;
    const hasResult = (body.messages ?? []).some((m: Obj) => Array.isArray(m.content) && m.content.some((c: Obj) => c.type === 'tool_result'));
    const call = tool && !hasResult ? tool : null;
    const u = this.nextUsage(false);
    const stream = body.stream === true;
    const model = this.log('anthropic', body.model, stream, !!call, u);
    const id = `msg_${this.n}`;
    // Anthropic's input_tokens excludes cache reads and writes.
    const usage = {
      input_tokens: u.input - u.cached - u.cacheWrite,
      cache_creation_input_tokens: u.cacheWrite,
      cache_read_input_tokens: u.cached,
      output_tokens: u.output,
      output_tokens_details: { thinking_tokens: u.reasoning },
      server_tool_use: null,
      service_tier: 'standard',
    };
    const text = `answer ${this.n}`;
    const block: Obj = call ? { type: 'tool_use', id: `toolu_${this.n}`, name: call.name, input: argsFor(call.input_schema) } : { type: 'text', text, citations: null };
    const stopReason = call ? 'tool_use' : 'end_turn';
    if (!stream) {
      return json(res, { id, type: 'message', role: 'assistant', model, content: [block], stop_reason: stopReason, stop_sequence: null, usage });
    }
    const ev = (type: string, rest: Obj) => ({ event: type, data: { type, ...rest } });
    const events = [
      ev('message_start', {
        message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1, output_tokens_details: null } },
      }),
    ];
    if (call) {
      events.push(ev('content_block_start', { index: 0, content_block: { ...block, input: {} } }));
      events.push(ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } }));
    } else {
      events.push(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '', citations: null } }));
      for (const piece of [text.slice(0, 3), text.slice(3)]) events.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } }));
    }
    events.push(ev('content_block_stop', { index: 0 }));
    events.push(
      ev('message_delta', {
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: {
          input_tokens: usage.input_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          output_tokens: u.output,
          output_tokens_details: { thinking_tokens: u.reasoning },
          server_tool_use: null,
        },
      }),
    );
    events.push(ev('message_stop', {}));
    sse(res, events, false);
  }

  // ---- Gemini ------------------------------------------------------------------------------------

  private gemini(requested: string, stream: boolean, body: Obj, res: ServerResponse): void {
    const decls = (body.tools ?? []).flatMap((t: Obj) => t.functionDeclarations ?? []);
    const hasResult = (body.contents ?? []).some((c: Obj) => (c.parts ?? []).some((p: Obj) => p.functionResponse));
    const call = decls.length && !hasResult ? decls[0] : null;
    const u = this.nextUsage(true);
    const model = this.log('gemini', requested, stream, !!call, u);
    // promptTokenCount excludes the tool-use prompt; candidates exclude thoughts; total has them all.
    const prompt = u.input - u.toolUse;
    const usageMetadata: Obj = {
      promptTokenCount: prompt,
      candidatesTokenCount: u.output - u.reasoning,
      totalTokenCount: u.input + u.output,
      ...(u.cached ? { cachedContentTokenCount: u.cached } : {}),
      ...(u.reasoning ? { thoughtsTokenCount: u.reasoning } : {}),
      ...(u.toolUse ? { toolUsePromptTokenCount: u.toolUse } : {}),
    };
    const text = `answer ${this.n}`;
    const parts = call ? [{ functionCall: { name: call.name, args: argsFor(call.parameters ?? call.parametersJsonSchema) } }] : [{ text }];
    const candidate = (p: Obj[], finish: string | undefined) => ({ content: { role: 'model', parts: p }, ...(finish ? { finishReason: finish } : {}), index: 0 });
    const answer = (p: Obj[], finish: string | undefined, meta: Obj) => ({ candidates: [candidate(p, finish)], usageMetadata: meta, modelVersion: model, responseId: `gem-${this.n}` });
    if (!stream) return json(res, answer(parts, 'STOP', usageMetadata));
    // Streamed usageMetadata is cumulative; the last chunk carries the whole request's counts.
    const first = call ? parts : [{ text: text.slice(0, 3) }];
    const events = [{ data: answer(first, undefined, { promptTokenCount: prompt, candidatesTokenCount: 1, totalTokenCount: prompt + 1 }) }];
    events.push({ data: answer(call ? [] : [{ text: text.slice(3) }], 'STOP', usageMetadata) });
    sse(res, events, false);
  }
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_${Date.now()}` });
  res.end(JSON.stringify(body));
}

function sse(res: ServerResponse, events: { event?: string; data: unknown }[], done: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let out = '';
  for (const e of events) out += `${e.event ? `event: ${e.event}\n` : ''}data: ${JSON.stringify(e.data)}\n\n`;
  if (done) out += 'data: [DONE]\n\n';
  res.end(out);
}

/** The first tool of a request, normalized to `{ name, parameters | input_schema }`. */
function firstTool(tools: unknown, pick: (t: Obj) => Obj | null): Obj | null {
  if (!Array.isArray(tools)) return null;
  for (const t of tools) {
    const f = pick(t);
    if (f && typeof f.name === 'string') return f;
  }
  return null;
}

/** Arguments that satisfy a JSON schema's required properties (strings, numbers, booleans). */
function argsFor(schema: Obj | undefined): Obj {
  const out: Obj = {};
  const props: Obj = schema?.properties ?? {};
  for (const [key, p] of Object.entries(props)) {
    const type = Array.isArray(p?.type) ? p.type[0] : p?.type;
    out[key] = type === 'number' || type === 'integer' ? 1 : type === 'boolean' ? true : type === 'object' ? {} : type === 'array' ? [] : 'x';
  }
  return out;
}
