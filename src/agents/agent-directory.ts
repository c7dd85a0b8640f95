import { Injectable } from '@nestjs/common';
import type { DemoAgent } from './agent.interface';
import { ResearchAgent } from './research.agent';
import { SummarizerAgent } from './summarizer.agent';
import { SupportAgent } from './support.agent';

export interface AgentInfo {
  name: string;
  provider: string;
  model: string;
  description: string;
}

/** The demo's agents by name (the `:name` of POST /agents/:name/ask). */
@Injectable()
export class AgentDirectory {
  private readonly agents: ReadonlyMap<string, DemoAgent>;

  constructor(support: SupportAgent, research: ResearchAgent, summarizer: SummarizerAgent) {
    this.agents = new Map<string, DemoAgent>([support, research, summarizer].map((a) => [a.name, a]));
  }

  get(name: string): DemoAgent | undefined {
    return this.agents.get(name);
  }

  names(): string[] {
    return [...this.agents.keys()];
  }

  list(): AgentInfo[] {
    return [...this.agents.values()].map(({ name, provider, model, description }) => ({ name, provider, model, description }));
  }
}
