import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { UsageTrackingModule } from 'nestjs-agent-usage';
import { UsageApiModule } from 'nestjs-agent-usage/api';
import { AgentDirectory } from './agents/agent-directory';
import { ResearchAgent } from './agents/research.agent';
import { SummarizerAgent } from './agents/summarizer.agent';
import { SupportAgent } from './agents/support.agent';
import { AgentsController } from './agents.controller';
import { DashboardController } from './dashboard.controller';
import { FakeModelClient } from './fake-model/fake-model.client';
import { UsageController } from './usage.controller';
import { UsageErrorFilter } from './usage-error.filter';
import { usageOptionsFromEnv } from './usage-options';

@Module({
  imports: [
    // The host owns the scheduler; the library registers its threshold job in it.
    ScheduleModule.forRoot(),
    // The async form: options are computed when the app boots (here from the environment; a
    // ConfigService could be injected with `inject: [ConfigService]`).
    UsageTrackingModule.forRootAsync({
      useFactory: () => usageOptionsFromEnv(process.env),
    }),
    // The analytics API and the dashboard at /agent-usage/dashboard. PUBLIC here because the demo runs on
    // your machine with made-up data; a real app sets apiKeys or a guard (the module refuses to boot without one).
    UsageApiModule.forRoot({ public: true }),
  ],
  controllers: [AgentsController, UsageController, DashboardController],
  providers: [
    FakeModelClient,
    SupportAgent,
    ResearchAgent,
    SummarizerAgent,
    AgentDirectory,
    { provide: APP_FILTER, useClass: UsageErrorFilter },
  ],
})
export class AppModule {}
