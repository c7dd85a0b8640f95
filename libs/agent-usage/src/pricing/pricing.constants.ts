/**
 * The bundled price table. The version is pinned exactly in package.json and repeated here because the
 * package does not export its package.json; test/pricing checks that both agree, so `priceSource`
 * never names a table version that is not the one installed.
 */
export const PRICE_TABLE_PACKAGE = '@pydantic/genai-prices';
export const PRICE_TABLE_VERSION = '0.1.8';
export const PRICE_TABLE_ID = `${PRICE_TABLE_PACKAGE}@${PRICE_TABLE_VERSION}`;

/**
 * Rates are held as integer pico-USD (1e-12 USD) per token, i.e. USD per 1M tokens x 1e6: a rate per 1M
 * tokens may have at most 6 decimals, a per-token or per-query USD amount at most 12.
 */
export const PER_MILLION_DECIMALS = 6;
export const PER_UNIT_DECIMALS = 12;
/** pico-USD per nano-USD: the one rounding step divides by this. */
export const PICO_PER_NANO = 1000n;

/** Distinct (provider, model) names whose resolution is cached; the cache is reset when full. */
export const MAX_CACHED_MODEL_NAMES = 10_000;
/** Distinct unpriced (provider, model) names counted one by one; the rest are counted together. */
export const MAX_UNPRICED_MODEL_NAMES = 1_000;
