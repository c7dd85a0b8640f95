import './testing.requirements';
export { runStorageConformance, conformanceRecords } from './storage-conformance';
export type { ConformanceFactory, ConformanceFixture } from './storage-conformance';
export { prng } from './prng';
export { USAGE_CLOCK } from '../budgets/budget.constants';
