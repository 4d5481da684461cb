import type { Context } from 'hono';
import * as v from 'valibot';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';

/** Edge validation for the audit routes: valibot issues become VALIDATION_FAILED with `errors[]`. */
function check<T>(schema: v.GenericSchema<unknown, T>, input: unknown, what: string): T {
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', `Invalid ${what}.`, {
      errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? what, message: i.message })),
    });
  }
  return parsed.output;
}

export function parseQuery<T>(c: Context<AppEnv>, schema: v.GenericSchema<unknown, T>): T {
  return check(schema, c.req.query(), 'query parameters');
}

/** JSON body; an empty body counts as `{}`. */
export async function parseJsonBody<T>(c: Context<AppEnv>, schema: v.GenericSchema<unknown, T>): Promise<T> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim()) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('VALIDATION_FAILED', 'The body must be JSON.');
    }
  }
  return check(schema, json, 'request body');
}

/** A query value that must be a whole number (`limit=50`); validated further by the verb. */
export const wholeNumber = v.pipe(v.string(), v.regex(/^\d{1,9}$/, 'must be a whole number'), v.transform(Number));
export const optionalText = v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(256, 'is too long')));
