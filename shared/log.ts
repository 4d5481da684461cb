/**
 * JSON-lines logger (DESIGN §9): timestamp, level, tenant_id, request_id, component, message.
 * Callers pass ids and codes, never document content, query text or secrets.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface LogFields {
  tenant_id?: string;
  request_id?: string;
  component?: string;
  [key: string]: unknown;
}
export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(write: (line: string) => void, min: LogLevel = 'info', now = () => new Date()): Logger {
  return {
    log(level, message, fields = {}) {
      if (ORDER[level] < ORDER[min]) return;
      write(JSON.stringify({ timestamp: now().toISOString(), level, tenant_id: null, request_id: null, component: 'app', ...fields, message }));
    },
  };
}

export const silentLogger: Logger = { log() {} };
