// Structured logs: one JSON object per line on stdout, as log collectors
// expect. `msg` is a constant sentence; what varies goes in fields.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds these fields to every line. */
  with(fields: Fields): Logger;
}

export function createLogger(
  level: Level,
  base: Fields = {},
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const emit = (l: Level, msg: string, fields?: Fields) => {
    if (order[l] < order[level]) return;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...base, ...fields })}\n`,
    );
  };
  return {
    debug: (msg, f) => emit('debug', msg, f),
    info: (msg, f) => emit('info', msg, f),
    warn: (msg, f) => emit('warn', msg, f),
    error: (msg, f) => emit('error', msg, f),
    with: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
