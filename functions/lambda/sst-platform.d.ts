/**
 * The part of SST's platform globals that sst.config.ts uses (v3 components; v4 keeps their API),
 * so `npm run typecheck` checks it offline. SST generates the real declarations
 * (.sst/platform/config.d.ts) with `sst install`, which downloads Pulumi and its AWS provider:
 * that cannot run here, and the `sst` npm package alone does not carry them. These follow SST's
 * documented signatures (sst.dev/docs/component/aws/function, …/apigatewayv2, …/cron, …/secret).
 * Where `sst install` has run, the generated file is the authority and this one can go.
 */

/** A value that may only be known during deployment (Pulumi Output / Input). */
interface SstOutput<T> {
  apply<U>(fn: (value: T) => U): SstOutput<U>;
}
type SstInput<T> = T | SstOutput<T> | Promise<T>;

interface SstAppInput {
  stage?: string;
}
interface SstApp {
  name: string;
  home: 'aws' | 'cloudflare' | 'local';
  removal?: 'remove' | 'retain' | 'retain-all';
  protect?: boolean;
  providers?: Record<string, string | Record<string, unknown>>;
}
interface SstConfig {
  app(input: SstAppInput): SstApp;
  run(): Promise<Record<string, unknown> | void>;
}

declare function $config(config: SstConfig): SstConfig;
/** Template literal over Outputs, e.g. $interpolate`parse=${fn.url}`. */
declare function $interpolate(literals: TemplateStringsArray, ...placeholders: unknown[]): SstOutput<string>;
declare const $app: { readonly name: string; readonly stage: string };

declare namespace sst {
  /** `npx sst secret set <Name> <value>`; read in functions through `environment` here. */
  class Secret {
    constructor(name: string, placeholder?: SstInput<string>);
    readonly name: SstOutput<string>;
    readonly value: SstOutput<string>;
  }

  namespace aws {
    type Size = `${number} MB` | `${number} GB`;
    type Duration = `${number} ${'second' | 'seconds' | 'minute' | 'minutes'}`;

    interface FunctionArgs {
      /** `{path}.{export}`, e.g. functions/lambda/index.api. */
      handler: SstInput<string>;
      name?: SstInput<string>;
      description?: SstInput<string>;
      runtime?: SstInput<'nodejs20.x' | 'nodejs22.x'>;
      architecture?: SstInput<'x86_64' | 'arm64'>;
      memory?: SstInput<Size>;
      timeout?: SstInput<Duration>;
      storage?: SstInput<Size>;
      environment?: SstInput<Record<string, SstInput<string>>>;
      /** A function URL (the QStash destination of long-running steps). */
      url?: SstInput<boolean | { authorization?: 'none' | 'iam' }>;
      copyFiles?: SstInput<{ from: string; to?: string }[]>;
      nodejs?: SstInput<{ install?: string[]; format?: 'esm' | 'cjs'; minify?: boolean; sourcemap?: boolean }>;
      vpc?: SstInput<{ privateSubnets: SstInput<string>[]; securityGroups: SstInput<string>[] }>;
      concurrency?: SstInput<{ reserved?: number; provisioned?: number }>;
      link?: SstInput<unknown[]>;
    }

    class Function {
      constructor(name: string, args: FunctionArgs);
      readonly name: SstOutput<string>;
      readonly arn: SstOutput<string>;
      /** Set when `url` is enabled. */
      readonly url: SstOutput<string>;
    }

    interface ApiGatewayV2Args {
      domain?: SstInput<string | { name: string; dns?: unknown }>;
      cors?: SstInput<boolean>;
      accessLog?: SstInput<{ retention?: string }>;
    }

    class ApiGatewayV2 {
      constructor(name: string, args?: ApiGatewayV2Args);
      readonly url: SstOutput<string>;
      /** `METHOD /path` (`ANY`, `{param}`, `{proxy+}`) or `$default`; one function per call. */
      route(rawRoute: string, handler: SstInput<string | FunctionArgs>, args?: Record<string, unknown>): unknown;
    }

    interface CronArgs {
      /** EventBridge `rate(…)` or `cron(…)` expression. */
      schedule: SstInput<string>;
      function: SstInput<string | FunctionArgs>;
      /** Passed to the function as its event. */
      event?: SstInput<Record<string, SstInput<string>>>;
      enabled?: SstInput<boolean>;
    }

    class Cron {
      constructor(name: string, args: CronArgs);
    }
  }
}
