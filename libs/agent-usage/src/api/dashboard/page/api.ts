/**
 * Fetches from the usage API next to the page. With API keys the key is asked for once, kept in
 * sessionStorage (this tab only, gone when it closes) and sent as a Bearer token; it is never put in a URL.
 */

const KEY = 'agent-usage.api-key';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | string[] | number | undefined | null>;

export class Api {
  /** Called when the API answers 401/403, so the page can ask for a key; resolves when one is entered. */
  onUnauthorized: (status: number, message: string) => Promise<void> = async () => undefined;

  constructor(readonly base: string) {}

  get key(): string | null {
    return sessionStorage.getItem(KEY);
  }

  set key(value: string | null) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  }

  url(route: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue;
      for (const one of Array.isArray(v) ? v : [v]) params.append(k, String(one));
    }
    const qs = params.toString();
    return `${this.base}/${route}${qs ? `?${qs}` : ''}`;
  }

  async request(method: string, route: string, query: Query = {}, body?: unknown): Promise<Response> {
    for (;;) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.key) headers.authorization = `Bearer ${this.key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(this.url(route, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
      if (res.status === 401 || res.status === 403) {
        const message = await errorMessage(res);
        this.key = null;
        await this.onUnauthorized(res.status, message);
        continue;
      }
      if (!res.ok) throw new ApiError(res.status, await errorMessage(res));
      return res;
    }
  }

  async get<T>(route: string, query: Query = {}): Promise<T> {
    return (await (await this.request('GET', route, query)).json()) as T;
  }

  async send<T>(method: 'POST' | 'DELETE', route: string, body?: unknown): Promise<T | null> {
    const res = await this.request(method, route, {}, body);
    const text = await res.text();
    return text ? (JSON.parse(text) as T) : null;
  }

  /** Downloads a route's answer as a file (a plain link could not carry the Bearer key). */
  async download(route: string, query: Query, fallbackName: string): Promise<string> {
    const res = await this.request('GET', route, query);
    const name = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return name;
  }
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: string | string[]; error?: string };
    const m = Array.isArray(body.message) ? body.message.join('; ') : body.message;
    return `${res.status} ${m ?? body.error ?? res.statusText}`;
  } catch {
    return `${res.status} ${text.slice(0, 200) || res.statusText}`;
  }
}
