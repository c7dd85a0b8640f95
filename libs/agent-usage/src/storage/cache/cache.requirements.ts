import { assertPackagesFor } from '../../optional-packages';

// First import of 'nestjs-agent-usage/cache': names the missing package instead of failing later.
assertPackagesFor('cache');
