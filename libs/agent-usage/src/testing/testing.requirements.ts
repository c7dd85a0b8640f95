import { assertPackagesFor } from '../common/optional-packages';

// First import of 'nestjs-agent-usage/testing': names the missing package before @jest/globals is required.
assertPackagesFor('testing');
