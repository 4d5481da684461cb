/**
 * The part of workerd's `cloudflare:workers` module the workers tests use, declared here so the
 * root tsconfig (Node types) can check tests/workers without the full Workers runtime types.
 * At run time the module is workerd's own; `env` holds the bindings from vitest.config.ts.
 */
declare module 'cloudflare:workers' {
  /** The Worker's bindings (wrangler.toml vars overlaid with the test bindings). */
  export const env: Record<string, unknown>;
  /** Service bindings to the `main` Worker's exports; each call is a real invocation. */
  export const exports: {
    default: {
      fetch(input: string | Request, init?: RequestInit): Promise<Response>;
      /** Runs the scheduled handler as a cron trigger would. */
      scheduled(options?: { scheduledTime?: Date; cron?: string }): Promise<unknown>;
    };
  };
}
