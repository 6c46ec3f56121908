// Anchored globs for claims like `ref` and `workflow_ref`: `*` matches within one path segment (never `/`), `**`
// crosses segments, every other character is literal. Compiled once at config load.

export interface Glob {
  source: string;
  test(value: string): boolean;
}

/** Why a pattern is refused at load, or undefined when it is fine. */
export function globProblem(pattern: string): string | undefined {
  if (pattern === '') return 'is empty';
  if (/^\*+$/.test(pattern))
    return `is a bare "${pattern}", which matches everything: name the refs or workflows`;
  if (pattern.includes('***')) return `has "***": use "*" (one segment) or "**" (any depth)`;
  if (pattern !== pattern.trim()) return 'has leading or trailing spaces';
  return undefined;
}

export function compileGlob(pattern: string): Glob {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else {
        re += '[^/]*';
      }
    } else {
      re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  const regex = new RegExp(`${re}$`, 's');
  return { source: pattern, test: (value) => regex.test(value) };
}
