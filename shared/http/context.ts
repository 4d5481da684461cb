import type { Principal } from '../auth/tokens';
import type { Services } from '../services';
import type { Tenant } from '../tenants/tenants';

/** Typed Hono context shared by every app (Node, Workers, Lambda). */
export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    principal: Principal;
    tenant: Tenant;
  };
}
