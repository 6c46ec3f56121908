// The sources a Dockerfile's COPY and ADD instructions read, for the planner: which paths of the build context an
// image is built from. Not a full Dockerfile parser: parser directives (escape), comments, line continuations,
// heredocs (their bodies are skipped, a `<<EOF` source is inline), flags (`--from=` reads a stage, an image or a
// named context, never the context itself), the JSON-array form. A source with a variable cannot be resolved here.

/** What a COPY/ADD source is, for the planner. */
export type SourceKind =
  /** A path (or glob) in the build context. */
  | 'context'
  /** `--from=<stage|image|named context>`: not the build context. */
  | 'from'
  /** An inline heredoc (`COPY <<EOF /dest`). */
  | 'heredoc'
  /** ADD of a URL or a git repository. */
  | 'remote'
  /** A variable (`$X`, `${X}`): which paths it reads is not known before the build. */
  | 'unresolved';

export interface CopySource {
  instruction: 'COPY' | 'ADD';
  /** The source as written. */
  raw: string;
  /** For `context`: the path relative to the context ('.' for all of it), `./` and leading `/` removed. */
  path: string;
  kind: SourceKind;
  /** `--from=` value, for kind `from`. */
  from?: string;
  /** 1-based line of the instruction. */
  line: number;
}

const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

interface Instruction {
  text: string;
  line: number;
}

/** The escape character from a leading `# escape=` parser directive (default backslash). */
function escapeChar(lines: string[]): string {
  for (const line of lines) {
    const m = /^\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!m) return '\\';
    if (m[1]?.toLowerCase() === 'escape' && (m[2] === '`' || m[2] === '\\')) return m[2];
  }
  return '\\';
}

/** Logical instructions: continuations joined, comments and heredoc bodies dropped. */
function instructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const escape = escapeChar(lines);
  const out: Instruction[] = [];
  let current: Instruction | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (current && trimmed === '')) {
      // A comment (or an empty line inside a continuation) is no part of the instruction.
      continue;
    }
    if (trimmed === '' && !current) continue;
    const continued = trimmed.endsWith(escape);
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    if (current) current.text += ` ${body}`;
    else current = { text: body, line: i + 1 };
    if (continued) continue;
    // The instruction is complete: skip the bodies of its heredocs, in order.
    for (const m of current.text.matchAll(HEREDOC)) {
      const strip = m[1] === '-';
      const word = m[3] ?? '';
      for (i++; i < lines.length; i++) {
        const l = lines[i] ?? '';
        if ((strip ? l.replace(/^\t+/, '') : l) === word || l.trim() === word) break;
      }
    }
    out.push(current);
    current = undefined;
  }
  if (current) out.push(current);
  return out;
}

/** Splits the shell form on white space, keeping quoted parts together and dropping the quotes. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    out.push(m[1] ?? m[2] ?? m[3] ?? '');
  }
  return out;
}

function isRemote(source: string): boolean {
  return /^(https?|git|ssh):\/\//i.test(source) || /^[\w.-]+@[\w.-]+:/.test(source);
}

/** A context path as the builder resolves it: relative to the context root, '.' for the root. */
export function contextPath(source: string): string {
  const parts: string[] = [];
  for (const part of source.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.length === 0 ? '.' : parts.join('/');
}

/** Every COPY/ADD source of a Dockerfile's text. */
export function copySources(dockerfile: string): CopySource[] {
  const sources: CopySource[] = [];
  for (const { text, line } of instructions(dockerfile)) {
    const m = /^(COPY|ADD)\s+(.*)$/i.exec(text);
    if (!m) continue;
    const instruction = (m[1] ?? '').toUpperCase() as 'COPY' | 'ADD';
    let rest = (m[2] ?? '').trim();
    let from: string | undefined;
    // Flags: --name=value or --name, always before the sources.
    for (;;) {
      const flag = /^--([a-z-]+)(?:=("[^"]*"|'[^']*'|\S*))?\s*/i.exec(rest);
      if (!flag) break;
      if (flag[1]?.toLowerCase() === 'from') from = (flag[2] ?? '').replace(/^["']|["']$/g, '');
      rest = rest.slice(flag[0].length);
    }
    let args: string[] | undefined;
    if (rest.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(rest);
        if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) args = parsed;
      } catch {
        args = undefined;
      }
    }
    args ??= words(rest);
    // The last argument is the destination.
    for (const raw of args.slice(0, -1)) {
      const base = { instruction, raw, line };
      if (from !== undefined) sources.push({ ...base, path: raw, kind: 'from', from });
      else if (/^<<-?["']?[A-Za-z_]/.test(raw)) sources.push({ ...base, path: raw, kind: 'heredoc' });
      else if (isRemote(raw)) sources.push({ ...base, path: raw, kind: 'remote' });
      else if (raw.includes('$')) sources.push({ ...base, path: raw, kind: 'unresolved' });
      else sources.push({ ...base, path: contextPath(raw), kind: 'context' });
    }
  }
  return sources;
}

/** One path segment against one glob segment, as Go's filepath.Match (`*`, `?`, `[...]`, `[^...]`, `\`). */
function segmentRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\(?!.)/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a COPY/ADD source (a context path, maybe a glob) reads `path` (relative to the same context): the path
 * is the source, matches it, or lies under a directory it names or matches. `**` matches any number of segments.
 */
export function sourceReads(source: string, path: string): boolean {
  if (source === '.') return true;
  const want = source.split('/');
  const have = contextPath(path).split('/');
  const match = (w: number, h: number): boolean => {
    if (w === want.length) return true; // the rest lies under the matched directory
    if (h === have.length) return false;
    const seg = want[w] as string;
    if (seg === '**') return match(w + 1, h) || match(w, h + 1);
    return segmentRegex(seg).test(have[h] as string) && match(w + 1, h + 1);
  };
  return match(0, 0);
}
