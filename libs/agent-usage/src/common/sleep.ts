/** Resolves after `ms` milliseconds (back-off between retries). */
export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));
