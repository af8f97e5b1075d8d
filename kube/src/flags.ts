import { parseArgs } from 'node:util';
import type { z } from 'zod';

// Command-line configuration shared by the operator and the agent: every
// flag has an environment variable; flags win over the environment, which
// wins over the schema's defaults; the whole is validated by a zod schema
// so every mistake is reported at once, by flag name.

export interface FlagSpec {
  env: string;
  help: string;
}

export type Flags = Record<string, FlagSpec>;

export function usageText(command: string, flags: Flags): string {
  const width = Math.max(...Object.keys(flags).map((f) => f.length)) + 4;
  const lines = Object.entries(flags).map(
    ([flag, f]) => `  --${flag.padEnd(width)} ${f.help} [$${f.env}]`,
  );
  return `usage: ${command} [flags]\n\n${lines.join('\n')}\n`;
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export type Parsed<T> = { config: T } | { help: true } | { errors: string[] };

export function parseFlags<S extends z.ZodType>(
  schema: S,
  flags: Flags,
  argv: string[],
  env: Record<string, string | undefined>,
  fallback: Record<string, unknown> = {},
): Parsed<z.output<S>> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.keys(flags).map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    return { errors: [(err as Error).message] };
  }
  if (values['help']) return { help: true };
  const raw: Record<string, unknown> = {};
  for (const [flag, f] of Object.entries(flags)) {
    const value = values[flag] ?? env[f.env];
    if (value !== undefined && value !== '') raw[camel(flag)] = value;
  }
  for (const [key, value] of Object.entries(fallback)) raw[key] ??= value;
  const result = schema.safeParse(raw);
  if (!result.success) {
    return {
      errors: result.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`),
    };
  }
  return { config: result.data };
}

/** The configuration; or prints usage (exit 0) or the errors and usage (exit 2). */
export function configOrExit<T>(command: string, flags: Flags, parsed: Parsed<T>): T {
  if ('help' in parsed) {
    process.stdout.write(usageText(command, flags));
    process.exit(0);
  }
  if ('errors' in parsed) {
    process.stderr.write(
      `${command}: invalid configuration:\n  ${parsed.errors.join('\n  ')}\n\n${usageText(command, flags)}`,
    );
    process.exit(2);
  }
  return parsed.config;
}
