/**
 * With @nestjs/swagger installed (a devDependency here, an optional peer of the package), a SwaggerModule
 * document built over an app lists every route of the module with its query parameters and bearer auth.
 */
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ApiApp, bootApi } from './api-app.fixture';

const ROUTES: [string, string][] = [
  ['get', '/usage-api/usage'],
  ['get', '/usage-api/usage/breakdown'],
  ['get', '/usage-api/usage/optimize'],
  ['get', '/usage-api/usage/export'],
  ['get', '/usage-api/analytics'],
  ['get', '/usage-api/fleet'],
  ['get', '/usage-api/logs'],
  ['get', '/usage-api/invoice'],
  ['get', '/usage-api/invoice/invoice.css'],
  ['post', '/usage-api/alerts'],
  ['get', '/usage-api/alerts'],
  ['delete', '/usage-api/alerts/{id}'],
];

describe('OpenAPI document', () => {
  let api: ApiApp;
  beforeAll(async () => {
    api = await bootApi('memory', { path: 'usage-api', apiKeys: ['swagger-key-0123456789abcdef'] }, {}, []);
  });
  afterAll(() => api?.close());

  it('lists every route, its parameters and the bearer scheme', () => {
    const doc = SwaggerModule.createDocument(api.app, new DocumentBuilder().setTitle('usage').addBearerAuth().build());
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => ['get', 'post', 'delete'].includes(m)).map((m) => `${m} ${path}`));
    expect(listed.sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
    const params = (path: string) => (doc.paths[path].get!.parameters ?? []).map((p) => ('name' in p ? p.name : '')).sort();
    expect(params('/usage-api/usage')).toEqual(['agent', 'category', 'end_date', 'group', 'model', 'period', 'provider', 'start_date', 'user']);
    expect(params('/usage-api/logs')).toEqual(expect.arrayContaining(['cursor', 'limit']));
    expect(params('/usage-api/invoice')).toEqual(expect.arrayContaining(['month', 'format']));
    expect(doc.paths['/usage-api/usage'].get!.security).toEqual([{ bearer: [] }]);
    const body = doc.paths['/usage-api/alerts'].post!.requestBody as { content: Record<string, { schema: { $ref: string } }> };
    expect(body.content['application/json'].schema.$ref).toMatch(/CreateUsageAlertDto$/);
  });
});
