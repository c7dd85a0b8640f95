import { assertPackagesFor } from '../../common/optional-packages';

// First import of 'nestjs-agent-usage/cache': names the missing package instead of failing later.
assertPackagesFor('cache');
