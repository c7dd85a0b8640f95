/** What every demo agent answers over HTTP. */
export interface AgentReply {
  agent: string;
  provider: string;
  model: string;
  answer: string;
  /** Model requests this answer took (each one is a usage record). */
  modelCalls: number;
  /** The usage blocks exactly as the provider sent them, for comparison with what was recorded. */
  providerUsage: unknown[];
}

export interface DemoAgent {
  readonly name: string;
  readonly provider: string;
  readonly model: string;
  readonly description: string;
  ask(prompt: string): Promise<AgentReply>;
}
