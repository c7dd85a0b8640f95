import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { generateDemoTraffic } from './demo-traffic';
import { describeStorage, supportBudgetFromEnv } from './usage-options';

async function bootstrap(): Promise<void> {
  const portText = process.env.PORT ?? '3000';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number; got "${portText}"`);

  const app = await NestFactory.create(AppModule);
  // Buffered usage records are written out when the process is stopped (Ctrl+C, SIGTERM).
  app.enableShutdownHooks();
  await app.listen(port);

  const address = app.getHttpServer().address();
  const url = `http://localhost:${typeof address === 'object' && address ? address.port : port}`;
  const generated = process.env.DEMO_TRAFFIC === '0' ? 0 : await generateDemoTraffic(app);
  console.log(`
nestjs-agent-usage demo  (storage: ${describeStorage()})

  Dashboard: ${url}/agent-usage/dashboard
             (${generated ? `${generated} calls generated at start: live ones now, history over 14 days; DEMO_TRAFFIC=0 skips them` : 'no traffic generated (DEMO_TRAFFIC=0)'})
  The dashboard and its API (UsageApiModule) are PUBLIC in this demo: in your app give it apiKeys or a guard.

Try:
  curl -s -X POST ${url}/agents/support/ask -H 'content-type: application/json' -d '{"prompt":"Where is my order #1234?","userId":"alice","chatName":"order-1234"}'
  curl -s '${url}/usage/aggregate?agentName=support'
  curl -s '${url}/usage/by/modelName'
  curl -s '${url}/usage/budgets'

The support agent has a hard budget of ${supportBudgetFromEnv().toLocaleString('en-US')} tokens per hour (DEMO_SUPPORT_TOKENS_PER_HOUR):
the example question costs 50 tokens: with the default 2,000 the 41st question gets 429 (budget_exceeded) until the hour ends.

Plain tables: ${url}/   JSON API: ${url}/agent-usage/usage?period=month   Stop: Ctrl+C
`);
}

bootstrap().catch((err: Error & { code?: string }) => {
  if (err.code === 'EADDRINUSE') console.error(`demo: port ${process.env.PORT ?? '3000'} is in use; start with PORT=3001 npm run demo`);
  else console.error(`demo: failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
