// Durations in config files: `90s`, `15m`, `1h`, `1h30m`, or a bare number of seconds.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds, or undefined when the text is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) > 0 ? Number(text) : undefined;
  if (!/^(\d+[smhd])+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1);
  return total > 0 ? total : undefined;
}
