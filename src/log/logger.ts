import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Field paths masked before a line is written. Masking happens in the serializer, so a secret is
 * never formatted into a log line in the first place.
 */
export const REDACTED_PATHS = [
  'password', '*.password', '*.*.password',
  'token', '*.token', 'secret', '*.secret',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'req.headers.cookie', 'databaseUrl', '*.databaseUrl',
];

/** Creates the JSON logger; `destination` lets tests capture the lines. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
