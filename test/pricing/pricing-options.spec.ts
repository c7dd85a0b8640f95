import { validatePricingOptions } from 'nestjs-agent-usage/pricing/pricing-options.dto';
import { validateUsageTrackingOptions } from 'nestjs-agent-usage/options/usage-tracking-options.validator';
import type { PricingOptions } from 'nestjs-agent-usage';

describe('pricing options validation', () => {
  it('accepts every documented form', () => {
    const ok: PricingOptions = {
      enabled: true,
      table: true,
      unknownModel: 'null',
      overrides: [
        { match: 'gpt-4o', input: 2.5, cachedInput: '1.25', output: '10' },
        { match: /^claude-/i, provider: 'anthropic', input: 3, cacheWrite: 3.75, cachedInput: 0.3, output: 15, reasoning: 15, tiers: [{ aboveInputTokens: 200000, input: 6, output: 22.5 }] },
        { match: { regex: '^gemini-', flags: 'i' }, input: '0.000001', output: 0, effectiveFrom: '2026-01-01' },
        { match: { regex: '^gemini-', flags: 'i' }, input: 1, output: 1, effectiveFrom: new Date('2026-06-01T00:00:00Z') },
      ],
      agents: { support: { costPerQuery: 0.05 }, research: { inputCostPerToken: '0.000002', outputCostPerToken: '0.000008', mode: 'add' } },
    };
    expect(validatePricingOptions(ok)).toEqual([]);
    expect(validatePricingOptions({})).toEqual([]);
    // the RegExp survived validation untouched (objects are copied shallowly)
    expect(ok.overrides![1].match).toBeInstanceOf(RegExp);
  });

  it('names each bad field with its path', () => {
    const problems = validatePricingOptions({
      enabled: 'yes',
      overrides: [
        'gpt-4o',
        { match: { regex: '(' }, input: 1, output: 1 },
        { match: 'm', output: 1, effectiveFrom: 'next week', tiers: [{ aboveInputTokens: -5 }, { aboveInputTokens: 10, input: 1 }, { aboveInputTokens: 10, output: 2 }] },
        { match: 'M', output: 1, input: 1, effectiveFrom: 'next week' },
        { match: 'x', input: 1, output: 1 },
        { match: 'X', input: 2, output: 2 },
      ],
      agents: { nothing: {}, bad: 3 },
      extra: true,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'enabled must be a boolean value',
        'extra is not an option',
        "overrides.0 must be an object ({ match, input, output, ... }); got \"gpt-4o\"",
        expect.stringMatching(/^overrides\.1\.match must be a model name, a RegExp or \{ regex: string, flags\?: string \}; regex does not compile/),
        expect.stringMatching(/^overrides\.2\.input is required: USD per 1M tokens/),
        expect.stringMatching(/^overrides\.2\.effectiveFrom must be a Date or an ISO 8601 date/),
        expect.stringMatching(/^overrides\.2\.tiers\.0\.aboveInputTokens must not be less than 0/),
        'overrides.2.tiers.0 must set at least one rate (input, cachedInput, cacheWrite, output, reasoning)',
        'overrides.2.tiers.2.aboveInputTokens repeats 10: each tier needs its own threshold',
        'overrides.5 repeats the match, provider and effectiveFrom of overrides.4: it would never apply',
        'agents.nothing must set costPerQuery, inputCostPerToken or outputCostPerToken',
        expect.stringMatching(/^agents\.bad must be an object/),
      ]),
    );
    expect(validatePricingOptions([])).toEqual(['must be an object; got an array of 0']);
  });

  it('is registered with the module options validator under `pricing.`', () => {
    expect(() => validateUsageTrackingOptions({ pricing: { overrides: [{ match: 'm', input: 1, output: '1.1234567' }] } })).toThrow(
      /pricing\.overrides\.0\.output must be USD per 1M tokens .*7 decimals; at most 6/,
    );
    expect(() => validateUsageTrackingOptions({ pricing: { overrides: [{ match: 'm', input: 1, output: 1 }] } })).not.toThrow();
  });
});
