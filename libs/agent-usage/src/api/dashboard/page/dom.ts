/** A small element builder: the page has no framework, and builds no HTML from strings (no injection). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: #${id} is missing from the page`);
  return el as T;
}

/** A panel's placeholder while it loads, and the message when it fails or is empty. */
export const loading = (): HTMLElement => h('p', { class: 'state loading', role: 'status' }, 'Loading…');
export const empty = (what: string, todo: string): HTMLElement => h('div', { class: 'state empty' }, h('strong', {}, what), h('p', {}, todo));
export const failed = (err: unknown): HTMLElement =>
  h('p', { class: 'state error', role: 'alert' }, `Could not load: ${err instanceof Error ? err.message : String(err)}`);
