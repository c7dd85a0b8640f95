import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { UsageService } from 'nestjs-agent-usage';
import { AgentDirectory } from './agents/agent-directory';
import type { AgentReply } from './agents/agent.interface';

/** Longest prompt the demo accepts (characters). */
export const MAX_PROMPT_LENGTH = 20_000;

interface AskBody {
  prompt: string;
  userId?: string;
  chatName?: string;
  group?: string;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new BadRequestException(`${key} must be a non-empty string when given`);
  return v;
}

function parseAskBody(body: unknown): AskBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestException('send a JSON object: { "prompt": "...", "userId"?: "...", "chatName"?: "...", "group"?: "..." }');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.prompt !== 'string' || b.prompt.trim().length === 0) throw new BadRequestException('prompt must be a non-empty string');
  if (b.prompt.length > MAX_PROMPT_LENGTH) throw new BadRequestException(`prompt must be at most ${MAX_PROMPT_LENGTH} characters`);
  return { prompt: b.prompt, userId: optionalString(b, 'userId'), chatName: optionalString(b, 'chatName'), group: optionalString(b, 'group') };
}

@Controller('agents')
export class AgentsController {
  constructor(
    private readonly usage: UsageService,
    private readonly agents: AgentDirectory,
  ) {}

  /** GET /agents: the agents this demo runs. */
  @Get()
  list() {
    return this.agents.list();
  }

  /**
   * POST /agents/:name/ask { prompt, userId?, chatName?, group? }: asks one agent. The attribution
   * is set once here with runWithContext; every model call the agent makes inside is recorded with it.
   */
  @Post(':name/ask')
  @HttpCode(200)
  async ask(@Param('name') name: string, @Body() body: unknown): Promise<AgentReply> {
    const agent = this.agents.get(name);
    if (!agent) throw new NotFoundException(`no agent "${name}"; agents: ${this.agents.names().join(', ')}`);
    const { prompt, userId, chatName, group } = parseAskBody(body);
    return this.usage.runWithContext({ userId, chatName, group }, () => agent.ask(prompt));
  }
}
