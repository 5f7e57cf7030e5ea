/** {a: {b: 1}} → [['a.b', 1]]; arrays of scalars stay values, arrays of objects get indexes */
export function flatten(value: unknown, prefix = ''): [string, unknown][] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const out: [string, unknown][] = [];
    for (const [k, v] of Object.entries(value)) out.push(...flatten(v, prefix ? `${prefix}.${k}` : k));
    return out;
  }
  if (Array.isArray(value) && value.some((v) => v && typeof v === 'object')) {
    return value.flatMap((v, i) => flatten(v, `${prefix}.${i + 1}`));
  }
  return [[prefix, value]];
}
