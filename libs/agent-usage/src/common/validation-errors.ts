import type { ValidationError } from 'class-validator';

/**
 * class-validator errors -> one line per problem, each prefixed with its option path. Unknown keys,
 * which class-validator words as "property x should not exist", become "<path> is not an option".
 */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    for (const msg of Object.values(e.constraints ?? {})) {
      out.push(msg.startsWith('property ') ? `${path} is not an option` : `${prefix ? `${prefix}.` : ''}${msg}`);
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, path));
  }
  return out;
}
