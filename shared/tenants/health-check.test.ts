import { describe, expect, it } from 'vitest';
import { loadEnv } from '../config/env';
import { tenantHealthUrl } from './health-check';

describe('tenant health URL', () => {
  const self = async () => 'http://127.0.0.1:41234';

  it('fills {tenant} into TENANT_PUBLIC_URL, which wins over everything else', async () => {
    const env = loadEnv({ TENANT_PUBLIC_URL: 'https://{tenant}.pipeline.example.com/', PUBLIC_URL: 'https://api.example.com' });
    expect(await tenantHealthUrl({ env, selfUrl: self }, 'acme')).toBe('https://acme.pipeline.example.com/api/v1/tenants/acme/health');
    const shared = loadEnv({ TENANT_PUBLIC_URL: 'https://api.example.com' });
    expect(await tenantHealthUrl({ env: shared }, 'acme')).toBe('https://api.example.com/api/v1/tenants/acme/health');
  });

  it("unset: this process's own API, then PUBLIC_URL, then HOST:PORT", async () => {
    expect(await tenantHealthUrl({ env: loadEnv({ PUBLIC_URL: 'https://api.example.com' }), selfUrl: self }, 'acme')).toBe('http://127.0.0.1:41234/api/v1/tenants/acme/health');
    expect(await tenantHealthUrl({ env: loadEnv({ PUBLIC_URL: 'https://api.example.com' }) }, 'acme')).toBe('https://api.example.com/api/v1/tenants/acme/health');
    expect(await tenantHealthUrl({ env: loadEnv({ PORT: '9090' }) }, 'acme')).toBe('http://127.0.0.1:9090/api/v1/tenants/acme/health');
  });

  it('refuses a TENANT_PUBLIC_URL that is not an http(s) URL', () => {
    for (const bad of ['pipeline.example.com', 'ftp://{tenant}.example.com', 'https://{tenant} example']) {
      expect(() => loadEnv({ TENANT_PUBLIC_URL: bad }), bad).toThrow(/TENANT_PUBLIC_URL/);
    }
  });
});
