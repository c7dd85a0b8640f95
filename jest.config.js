/** Unit specs live next to the library code; e2e and driver suites live in test/. */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/libs/agent-usage/src', '<rootDir>/test'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/test/nest12-smoke/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.spec.json' }],
    // The Vercel AI SDK (`ai`, `@ai-sdk/*`) ships ESM only (and so do some of its dependencies): the capture tests load it compiled to CommonJS.
    '/node_modules/(ai|@ai-sdk/[^/]+|@workflow/serde|@standard-schema/spec|eventsource-parser|zod)/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true, module: 'commonjs', target: 'ES2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(ai|@ai-sdk|@workflow/serde|@standard-schema/spec|eventsource-parser|zod)/)'],
  moduleNameMapper: {
    '^nestjs-agent-usage$': '<rootDir>/libs/agent-usage/src',
    '^nestjs-agent-usage/(.*)$': '<rootDir>/libs/agent-usage/src/$1',
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
  // Driver suites share one PostgreSQL database and one Redis; each uses its own table / key prefix.
  maxWorkers: 2,
};
