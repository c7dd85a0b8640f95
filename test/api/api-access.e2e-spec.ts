/**
 * Access rules of UsageApiModule on a real Express app: boot refusal without exactly one rule, API keys
 * (401 without, 403 with a wrong one, the key never echoed), a guard class resolved with DI and a guard
 * instance, public: true, and two registrations under two paths with two rules in one app.
 */
import { CanActivate, ExecutionContext, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InvalidUsageOptionsError, UsageTrackingModule } from 'nestjs-agent-usage';
import { UsageApiModule } from 'nestjs-agent-usage/api';
import { ApiApp, DATASET, RANGE, bootApi } from './api-app.fixture';

const KEY = 'test-key-0123456789abcdef';

/** A host service the guard class depends on: proves the guard is built with the host's injectables. */
@Injectable()
class Tokens {
  readonly allowed = new Set(['letmein']);
}
@Module({ providers: [Tokens], exports: [Tokens] })
class TokensModule {}

@Injectable()
class HeaderGuard implements CanActivate {
  constructor(private readonly tokens: Tokens) {}
  canActivate(context: ExecutionContext): boolean {
    return this.tokens.allowed.has(String(context.switchToHttp().getRequest().headers['x-token']));
  }
}

async function bootError(api: object): Promise<unknown> {
  try {
    const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ storage: 'memory' }), UsageApiModule.forRoot(api)] }).compile();
    await m.close();
  } catch (e) {
    return e;
  }
  return null;
}

describe('boot refusal', () => {
  it.each([
    ['no rule', {}, /exactly one access rule.*\(none is set\)/],
    ['two rules', { public: true, apiKeys: [KEY] }, /exactly one access rule.*\(apiKeys and public are set\)/],
    ['three rules', { public: true, apiKeys: [KEY], guard: HeaderGuard }, /guard and apiKeys and public are set/],
    ['public: false only', { public: false }, /none is set/],
    ['an empty key list', { apiKeys: [] }, /apiKeys must be a non-empty array/],
    ['a short key', { apiKeys: ['short'] }, /apiKeys\[0\] must be a string of at least 16 characters.*received a string of 5 characters/],
    ['a guard that is not a CanActivate', { guard: {} }, /guard must be a CanActivate class or instance/],
    ['an unknown option', { public: true, apiKey: KEY }, /unknown option "apiKey"/],
    ['a misspelled rule alone', { apiKey: KEY }, /unknown option "apiKey" \(expected guard, apiKeys, public/],
  ])('%s: InvalidUsageOptionsError naming the option', async (_name, api, message) => {
    const error = await bootError(api);
    expect(error).toBeInstanceOf(InvalidUsageOptionsError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('short"');
  });

  it('forRootAsync is checked the same way', async () => {
    let error: unknown = null;
    try {
      await Test.createTestingModule({
        imports: [UsageTrackingModule.forRoot({ storage: 'memory' }), UsageApiModule.forRootAsync({ useFactory: async () => ({ apiKeys: [KEY], public: true }) })],
      }).compile();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidUsageOptionsError);
  });
});

describe('API keys', () => {
  let api: ApiApp;
  beforeAll(async () => {
    // public: false says "not public", it is not a second rule.
    api = await bootApi('memory', { apiKeys: [KEY, 'second-key-0123456789abcdef'], public: false });
  });
  afterAll(() => api.close());

  it('401 without credentials, saying what to send', async () => {
    const res = await request(api.http).get(`/agent-usage/usage?${RANGE}`).expect(401);
    expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(res.body.message).toMatch(/Authorization: Bearer/);
    await request(api.http).get('/agent-usage/usage').set('Authorization', `Basic ${KEY}`).expect(401);
  });

  it('403 with a wrong key, which is never echoed', async () => {
    const wrong = 'wrong-key-0123456789abcdef';
    const res = await request(api.http).get('/agent-usage/usage').set('Authorization', `Bearer ${wrong}`).expect(403);
    expect(res.body).toMatchObject({ statusCode: 403, error: 'Forbidden', message: 'The API key is not valid' });
    expect(res.text).not.toContain(wrong);
    // A prefix of a valid key is not a valid key.
    await request(api.http).get('/agent-usage/usage').set('Authorization', `Bearer ${KEY.slice(0, -1)}`).expect(403);
  });

  it('200 with either key', async () => {
    await request(api.http).get(`/agent-usage/usage?${RANGE}`).set('Authorization', `Bearer ${KEY}`).expect(200);
    await request(api.http).get(`/agent-usage/usage?${RANGE}`).set('Authorization', 'bearer second-key-0123456789abcdef').expect(200);
  });

  it('the invoice stylesheet (no data) needs no key', async () => {
    const res = await request(api.http).get('/agent-usage/invoice/invoice.css').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/css/);
  });
});

describe('guards and public', () => {
  it('a guard class registered by the host is used as registered; it denies with 403 and allows', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [TokensModule, UsageTrackingModule.forRoot({ storage: 'memory' }), UsageApiModule.forRoot({ guard: HeaderGuard })],
      providers: [HeaderGuard],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const denied = await request(app.getHttpServer()).get('/agent-usage/usage').set('x-token', 'nope').expect(403);
      expect(denied.body).toMatchObject({ statusCode: 403, message: 'Access denied by the configured guard' });
      await request(app.getHttpServer()).get('/agent-usage/usage').set('x-token', 'letmein').expect(200);
    } finally {
      await app.close();
    }
  });

  it('forRootAsync: a guard instance built by the factory from the host injectables', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({ storage: 'memory' }),
        UsageApiModule.forRootAsync({ path: 'async-usage', imports: [TokensModule], inject: [Tokens], useFactory: (tokens: Tokens) => ({ guard: new HeaderGuard(tokens) }) }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      await request(app.getHttpServer()).get('/async-usage/usage/breakdown').expect(403);
      await request(app.getHttpServer()).get('/async-usage/usage/breakdown').set('x-token', 'letmein').expect(200);
    } finally {
      await app.close();
    }
  });

  it('two registrations: two paths, each with its own rule', async () => {
    const instanceGuard: CanActivate = { canActivate: (c) => c.switchToHttp().getRequest().headers['x-ok'] === '1' };
    const moduleRef = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({ storage: 'memory' }),
        UsageApiModule.forRoot({ path: 'open', public: true }),
        UsageApiModule.forRoot({ path: '/ops/usage-api/', guard: instanceGuard }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const http = app.getHttpServer();
      await request(http).get('/open/usage').expect(200);
      await request(http).get('/ops/usage-api/usage').expect(403);
      await request(http).get('/ops/usage-api/usage').set('x-ok', '1').expect(200);
      await request(http).get('/agent-usage/usage').expect(404);
    } finally {
      await app.close();
    }
  });

  it('public: true serves without credentials on the default path', async () => {
    const api = await bootApi('memory', { public: true });
    try {
      const res = await request(api.http).get(`/agent-usage/usage?${RANGE}`).expect(200);
      expect(res.body.operation_count).toBe(DATASET.length);
    } finally {
      await api.close();
    }
  });
});
