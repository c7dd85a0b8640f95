import type { TrackedCallFrame, UsageContextState } from '../context/usage-context';
import type { TrackUsageMetadata } from '../capture/track-usage.decorator';
import { agentNameOf, decideTracking } from './tracking.policy';

function frame(classMeta?: TrackUsageMetadata, methodMeta?: TrackUsageMetadata, instance: object = {}): TrackedCallFrame {
  return { instance, className: 'SupportAgent', method: 'answer', args: [1], classMeta, methodMeta };
}

describe('decideTracking: the priority order, as one pure function', () => {
  it('is off by default, on with the global switch', () => {
    expect(decideTracking(frame(), undefined, null, null, {})).toBe(false);
    expect(decideTracking(frame(), undefined, null, null, { trackUsage: true })).toBe(true);
  });

  it('method > class > provider config > global', () => {
    const options = { trackUsage: true, providers: { openai: { trackUsage: false } } };
    expect(decideTracking(frame(), undefined, 'openai', null, options)).toBe(false);
    expect(decideTracking(frame({ enabled: true }), undefined, 'openai', null, options)).toBe(true);
    expect(decideTracking(frame({ enabled: true }, { enabled: false }), undefined, 'openai', null, options)).toBe(false);
  });

  it('shouldTrackUsage() beats the decorators and sees what they resolved to; the runtime override beats it', () => {
    const seen: unknown[] = [];
    const agent = { shouldTrackUsage: (call: { resolved: boolean; agentName: string }) => (seen.push(call), !call.resolved) };
    expect(decideTracking(frame({ enabled: true }, undefined, agent), undefined, null, 'gpt-4o', {})).toBe(false);
    expect(seen).toEqual([{ agentName: 'SupportAgent', method: 'answer', args: [1], providerName: null, modelName: 'gpt-4o', resolved: true }]);
    const ctx: UsageContextState = { trackingOverride: true };
    expect(decideTracking(frame({ enabled: true }, undefined, agent), ctx, null, null, {})).toBe(true);
  });

  it('where: the first level that names a storage (method, class, provider), else the default drivers', () => {
    const provider = { trackUsage: true, storage: 'cache' };
    const classMeta = { enabled: true, storage: 'file' };
    const methodMeta = { storage: ['memory', 'database'] };
    expect(decideTracking(frame(undefined, undefined), undefined, 'openai', null, { providers: { openai: provider } })).toBe(provider);
    expect(decideTracking(frame(classMeta), undefined, 'openai', null, { providers: { openai: provider } })).toBe(classMeta);
    expect(decideTracking(frame(classMeta, methodMeta), undefined, 'openai', null, {})).toBe(methodMeta);
    expect(decideTracking(frame({ enabled: true }), undefined, null, null, {})).toBe(true);
  });

  it('agent name: route > method > class decorator > class name', () => {
    expect(agentNameOf(frame())).toBe('SupportAgent');
    expect(agentNameOf(frame({ agentName: 'support' }))).toBe('support');
    expect(agentNameOf(frame({ agentName: 'support' }, { agentName: 'triage' }))).toBe('triage');
    expect(agentNameOf(frame({ agentName: 'support' }), { routeAgentName: 'a2a-7' })).toBe('a2a-7');
  });
});
