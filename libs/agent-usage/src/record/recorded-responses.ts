/**
 * Responses already recorded, and streams already watched (the original and the proxy handed out):
 * a response or a stream returned through several tracked methods counts once.
 */
export const recordedResponses = new WeakSet<object>();
