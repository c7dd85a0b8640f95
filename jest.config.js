/** Unit specs live next to the library code; e2e and driver suites live in test/. */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/libs/agent-usage/src', '<rootDir>/test'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/test/nest12-smoke/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.spec.json' }] },
  moduleNameMapper: {
    '^nestjs-agent-usage$': '<rootDir>/libs/agent-usage/src',
    '^nestjs-agent-usage/(.*)$': '<rootDir>/libs/agent-usage/src/$1',
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
  // Driver suites share one PostgreSQL database and one Redis; each uses its own table / key prefix.
  maxWorkers: 2,
};
