import { assertPackagesFor } from '../../common/optional-packages';

// First import of 'nestjs-agent-usage/database': names every missing package before typeorm is required.
assertPackagesFor('databaseEntry');
