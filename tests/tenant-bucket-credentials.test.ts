import { GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../shared/config/env';
import { loadServerlessSettings } from '../shared/config/serverless';
import { createS3Client, createS3Store } from '../shared/storage/s3-store';
import { bucketSessionPolicy, scopedS3Stores } from '../shared/storage/tenant-credentials';
import { getTenantStatus, type TenantStatusView } from '../shared/tenants/lifecycle';
import { createTenant } from '../shared/tenants/tenants';
import { s3Settings } from './harness/services';
import { startS3SessionProxy, type S3SessionProxy, type SeenS3Request } from './helpers/s3-session-proxy';
import { startRuntime, uniqueName, type TestRuntime } from './helpers/runtime';
import { startStsDouble, type StsDouble } from './helpers/sts-double';
import { drive, eventsOf, jsonApi, stepOf } from './tenants-harness';

/**
 * Per-tenant bucket credentials (S3_TENANT_CREDENTIALS=sts) against s3rver, behind a proxy that
 * adds what MinIO has and s3rver lacks: STS on the S3 port (the STS double), Signature V4 checks
 * with the secret of the key or session that signed, and session policies. The double hands out
 * sessions under s3rver's own access key id (the only one s3rver accepts), each with its own
 * secret and token, so who signed a request is told by its token and the secret that verifies it.
 */

const configProblems = (fn: () => unknown): { key: string; message: string }[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('S3_TENANT_CREDENTIALS settings', () => {
  it('defaults to shared; sts needs S3_ENDPOINT; session lifetimes stay within 900–43200 s', () => {
    const env = loadEnv({});
    expect([env.S3_TENANT_CREDENTIALS, env.S3_STS_DURATION_SECONDS, env.S3_STS_ENDPOINT, env.S3_STS_ROLE_ARN]).toEqual(['shared', 3600, undefined, undefined]);
    expect(configProblems(() => loadEnv({ S3_TENANT_CREDENTIALS: 'sts' }))).toEqual([
      { key: 'S3_TENANT_CREDENTIALS', message: expect.stringContaining('sts needs S3_ENDPOINT') },
    ]);
    const s3 = { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY_ID: 'frostbyte', S3_SECRET_ACCESS_KEY: 'secret' };
    expect(configProblems(() => loadEnv({ ...s3, S3_TENANT_CREDENTIALS: 'scoped' })).map((p) => p.key)).toEqual(['S3_TENANT_CREDENTIALS']);
    for (const bad of ['899', '43201', '1h']) {
      expect(configProblems(() => loadEnv({ ...s3, S3_TENANT_CREDENTIALS: 'sts', S3_STS_DURATION_SECONDS: bad })).map((p) => p.key)).toEqual(['S3_STS_DURATION_SECONDS']);
    }
    const sts = loadEnv({ ...s3, S3_TENANT_CREDENTIALS: 'sts', S3_STS_DURATION_SECONDS: '43200', S3_STS_ENDPOINT: 'https://sts.eu-central-1.amazonaws.com', S3_STS_ROLE_ARN: 'arn:aws:iam::123456789012:role/frostbyte' });
    expect([sts.S3_TENANT_CREDENTIALS, sts.S3_STS_DURATION_SECONDS, sts.S3_STS_ENDPOINT]).toEqual(['sts', 43200, 'https://sts.eu-central-1.amazonaws.com']);
  });

  it('Workers and Lambda refuse sts instead of silently signing with the platform key', () => {
    const base = {
      DATABASE_URL: 'postgres://u@db.example.com/fb', PUBLIC_URL: 'https://api.example.com', STEP_BASE_URLS: 'parse=https://steps.example.com',
      S3_ENDPOINT: 'https://s3.example.com', S3_ACCESS_KEY_ID: 'frostbyte', S3_SECRET_ACCESS_KEY: 'secret',
      QSTASH_URL: 'https://qstash.upstash.io', QSTASH_TOKEN: 't', QSTASH_CURRENT_SIGNING_KEY: 'c', QSTASH_NEXT_SIGNING_KEY: 'n',
    };
    for (const runtime of ['workers', 'lambda'] as const) {
      expect(loadServerlessSettings({ ...base, S3_TENANT_CREDENTIALS: 'shared' }, runtime).env.S3_TENANT_CREDENTIALS).toBe('shared');
      expect(configProblems(() => loadServerlessSettings({ ...base, S3_TENANT_CREDENTIALS: 'sts' }, runtime))).toEqual([
        { key: 'S3_TENANT_CREDENTIALS', message: expect.stringContaining(`sts is not available on ${runtime}`) },
      ]);
    }
  });
});

describe('per-tenant bucket credentials', () => {
  let sts: StsDouble;
  let proxy: S3SessionProxy;
  const platform = () => ({ accessKeyId: s3Settings().accessKeyId, secretAccessKey: s3Settings().secretAccessKey });
  /** Straight to s3rver with the platform key, bypassing the proxy: what is really stored. */
  let direct: S3Client;

  beforeAll(async () => {
    sts = await startStsDouble({ ...platform(), sessionAccessKeyId: s3Settings().accessKeyId });
    proxy = await startS3SessionProxy({ target: s3Settings().endpoint, platform: platform(), sts });
    direct = createS3Client(s3Settings());
  });
  afterAll(async () => {
    direct?.destroy();
    await proxy?.close();
    await sts?.close();
  });

  const s3Env = () => ({ S3_ENDPOINT: proxy.url, S3_REGION: s3Settings().region, S3_ACCESS_KEY_ID: platform().accessKeyId, S3_SECRET_ACCESS_KEY: platform().secretAccessKey });
  const bucketOf = (id: string) => `frostbyte-${id}`;
  /** The session tokens STS issued for a bucket, oldest first. */
  const tokensFor = (bucket: string) => sts.calls.filter((c) => c.roleSessionName === bucket && c.sessionToken).map((c) => c.sessionToken as string);
  const requestsTo = (bucket: string, since = 0): SeenS3Request[] => proxy.requests.slice(since).filter((r) => r.bucket === bucket);
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('the session policy of a bucket allows the object store its work in that bucket and nothing else', () => {
    expect(JSON.parse(bucketSessionPolicy('frostbyte-acme'))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: ['arn:aws:s3:::frostbyte-acme/*'] },
        { Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'], Resource: ['arn:aws:s3:::frostbyte-acme'] },
      ],
    });
  });

  describe('with S3_TENANT_CREDENTIALS=sts (STS on the S3 endpoint, as MinIO serves it)', () => {
    let rt: TestRuntime;
    let admin: string;
    const api = jsonApi({ request: (p, i) => rt.app.request(p, i) }, () => admin);
    const status = async (id: string) => {
      const res = await api('GET', `/api/v1/admin/tenants/${id}`);
      expect(res.status).toBe(200);
      return res.body as unknown as TenantStatusView;
    };
    const settled = (id: string) => async () => (await getTenantStatus(rt.services, id)).run?.status !== 'running';

    beforeAll(async () => {
      rt = await startRuntime('pglite', {
        ...s3Env(),
        S3_TENANT_CREDENTIALS: 'sts',
        S3_STS_DURATION_SECONDS: '1800',
        S3_STS_ROLE_ARN: 'arn:aws:iam::000000000000:role/frostbyte-tenant',
        STEP_RETRY_BASE_MS: '1',
        TENANT_HEALTH_BACKOFF_MS: '1',
      });
      admin = await rt.token(null, ['admin']);
    });
    afterAll(async () => rt?.close());

    it("provisioning asks STS for a session whose policy names only the tenant's bucket, and records how the bucket is reached", async () => {
      const id = await rt.tenant('pol');
      const bucket = bucketOf(id);
      const calls = sts.calls.filter((c) => c.roleSessionName === bucket);
      expect(calls.length).toBe(1);
      expect(calls[0]).toMatchObject({ policy: bucketSessionPolicy(bucket), durationSeconds: 1800, roleArn: 'arn:aws:iam::000000000000:role/frostbyte-tenant' });
      const policy = JSON.parse(calls[0].policy as string) as { Statement: { Action: string[]; Resource: string[] }[] };
      expect(new Set(policy.Statement.flatMap((s) => s.Resource))).toEqual(new Set([`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]));
      expect(policy.Statement.flatMap((s) => s.Action).filter((a) => /\*|CreateBucket|DeleteBucket|ListAllMyBuckets|Policy/.test(a))).toEqual([]);

      const s = await status(id);
      expect(s.state).toBe('ACTIVE');
      expect(stepOf(s, 'storage').resource_ids).toEqual({ schema: expect.any(String), bucket, bucket_credentials: 'sts' });
      // The platform key looked for the bucket and made it; the tenant's session then probed it,
      // in the storage step and again in the health step (the same session, cached).
      const [session] = tokensFor(bucket);
      expect(requestsTo(bucket).map((r) => [r.action, r.sessionToken, r.refused])).toEqual([
        ['s3:ListBucket', undefined, undefined],
        ['s3:CreateBucket', undefined, undefined],
        ['s3:ListBucket', session, undefined],
        ['s3:ListBucket', session, undefined],
      ]);
    });

    it("a tenant's objects are read and written with its own session; the bucket is made and the readiness check answered with the platform key", async () => {
      const [a, b] = [await rt.tenant('obj-a'), await rt.tenant('obj-b')];
      const since = proxy.requests.length;
      const stores = { [a]: (await rt.services.planes.forTenant(a)).store, [b]: (await rt.services.planes.forTenant(b)).store };
      for (const id of [a, b]) {
        const store = stores[id];
        expect(store.credentials).toBe('sts');
        await store.put(`staging/${id}/u1`, bytes(`hello ${id}`), { contentType: 'text/plain' });
        await store.move(`staging/${id}/u1`, `raw/${id}/f1/abc`);
        expect(new TextDecoder().decode((await store.getBytes(`raw/${id}/f1/abc`)) ?? new Uint8Array())).toBe(`hello ${id}`);
        expect(await store.list(`raw/${id}/`)).toEqual([`raw/${id}/f1/abc`]);
        expect(await store.head(`raw/${id}/f1/abc`)).toEqual({ size: `hello ${id}`.length });
        await store.put(`raw/${id}/f2/def`, bytes('gone soon'));
        await store.delete(`raw/${id}/f2/def`);
      }
      for (const id of [a, b]) {
        const bucket = bucketOf(id);
        const own = tokensFor(bucket);
        expect(own.length).toBe(1);
        const seen = requestsTo(bucket, since);
        expect(seen.length).toBeGreaterThanOrEqual(8);
        // Every object request: signed with this tenant's session (verified with its secret) and allowed by its policy.
        for (const r of seen) expect({ action: r.action, token: r.sessionToken, refused: r.refused }).toEqual({ action: r.action, token: own[0], refused: undefined });
        // What s3rver holds, read with the platform key around the proxy.
        expect(new TextDecoder().decode((await createS3Store(direct, bucket).getBytes(`raw/${id}/f1/abc`)) ?? new Uint8Array())).toBe(`hello ${id}`);
        // Creating the bucket (HEAD, then PUT) took the platform key: a session may not.
        const made = proxy.requests.filter((r) => r.bucket === bucket && r.action === 's3:CreateBucket');
        expect(made.map((r) => [r.sessionToken, r.refused])).toEqual([[undefined, undefined]]);
      }
      expect(tokensFor(bucketOf(a))[0]).not.toBe(tokensFor(bucketOf(b))[0]);

      // A's session is good for A's bucket only: the server refuses it on B's.
      const session = sts.sessions.get(tokensFor(bucketOf(a))[0]);
      if (!session) throw new Error('no session issued for a');
      const asA = new S3Client({ endpoint: proxy.url, region: s3Settings().region, forcePathStyle: true, credentials: session });
      const forged = new S3Client({ endpoint: proxy.url, region: s3Settings().region, forcePathStyle: true, credentials: { ...session, secretAccessKey: 'not-the-session-secret' } });
      try {
        // The token alone is not enough: the signature must verify with the session's secret.
        await expect(forged.send(new GetObjectCommand({ Bucket: bucketOf(a), Key: `raw/${a}/f1/abc` }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
        await expect(asA.send(new GetObjectCommand({ Bucket: bucketOf(b), Key: `raw/${b}/f1/abc` }))).rejects.toMatchObject({ name: 'AccessDenied' });
        await expect(asA.send(new HeadBucketCommand({ Bucket: bucketOf(b) }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
        const own = await asA.send(new GetObjectCommand({ Bucket: bucketOf(a), Key: `raw/${a}/f1/abc` }));
        expect(await own.Body?.transformToString()).toBe(`hello ${a}`);
      } finally {
        asA.destroy();
        forged.destroy();
      }

      const beforeCheck = proxy.requests.length;
      await rt.services.planes.storageCheck();
      expect(proxy.requests.slice(beforeCheck).map((r) => [r.action, r.sessionToken, r.refused])).toEqual([['s3:ListAllMyBuckets', undefined, undefined]]);
    });

    it('a refused AssumeRole fails the storage step naming S3_TENANT_CREDENTIALS; after the fix, resume finishes the tenant', async () => {
      const id = uniqueName('stsfail').slice(0, 30);
      const bucket = bucketOf(id);
      sts.fail({ status: 403, code: 'AccessDenied', message: 'User: arn:aws:iam::000000000000:user/frostbyte is not authorized to perform: sts:AssumeRole' });
      try {
        await expect(createTenant(rt.services, { tenantId: id, actor: 'test' })).rejects.toThrow(
          new RegExp(`failed at step storage: sts_AccessDenied: could not obtain credentials scoped to bucket ${bucket} from the STS AssumeRole API at ${proxy.url}: .*not authorized to perform: sts:AssumeRole.*S3_TENANT_CREDENTIALS=sts needs`),
        );
      } finally {
        sts.heal();
      }
      const failed = await status(id);
      expect(failed.state).toBe('FAILED');
      expect(stepOf(failed, 'storage')).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(/^sts_AccessDenied: .*S3_TENANT_CREDENTIALS/) });
      expect(stepOf(failed, 'health').status).toBe('pending');
      // A refusal is not retried (not by the SDK, not by the queue).
      expect(sts.calls.filter((c) => c.roleSessionName === bucket).map((c) => c.error)).toEqual(['AccessDenied']);
      const failure = (await eventsOf(rt.services, id)).find((e) => e.event_type === 'TENANT_PROVISION_FAILED');
      expect(failure?.details).toMatchObject({ step: 'storage', error_code: 'sts_AccessDenied', retryable: false });

      const resumed = await api('POST', `/api/v1/admin/tenants/${id}/resume`);
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(202);
      await drive(rt.services, settled(id));
      const done = await status(id);
      expect(done.state).toBe('ACTIVE');
      expect(stepOf(done, 'storage')).toMatchObject({ status: 'succeeded', attempts: 2, resource_ids: { bucket, bucket_credentials: 'sts' } });
      const since = proxy.requests.length;
      const store = (await rt.services.planes.forTenant(id)).store;
      await store.put(`raw/${id}/f1/abc`, bytes('after the fix'));
      expect(requestsTo(bucket, since).map((r) => [r.action, r.sessionToken])).toEqual([['s3:PutObject', tokensFor(bucket)[0]]]);
    });

    it('deprovisioning deletes the bucket with the platform key (a session may not)', async () => {
      const id = await rt.tenant('bye');
      const bucket = bucketOf(id);
      await (await rt.services.planes.forTenant(id)).store.put(`raw/${id}/f1/abc`, bytes('x'));
      const since = proxy.requests.length;
      const res = await api('POST', `/api/v1/admin/tenants/${id}/deprovision`, { confirm: id });
      expect(res.status).toBe(202);
      await drive(rt.services, settled(id));
      expect((await status(id)).state).toBe('DEPROVISIONED');
      const deletes = requestsTo(bucket, since).filter((r) => r.action === 's3:DeleteBucket' || r.action === 's3:DeleteObject');
      expect(deletes.map((r) => [r.action, r.sessionToken, r.refused])).toEqual([['s3:DeleteObject', undefined, undefined], ['s3:DeleteBucket', undefined, undefined]]);
      await expect(direct.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    });
  });

  it('renews a session five minutes before it expires and reuses it until then (S3_STS_ENDPOINT elsewhere)', async () => {
    const settings = { ...s3Settings(), endpoint: proxy.url };
    const platformClient = createS3Client(settings);
    const bucket = uniqueName('fbt-renew');
    const store = scopedS3Stores(platformClient, settings, { endpoint: sts.url, region: settings.region, ...platform(), durationSeconds: 900 })(bucket);
    try {
      // The first session ends 301 s after it is issued: one second later it is inside the SDK's
      // five-minute renewal window.
      sts.setLifetimeMs(301_000);
      try {
        await store.ensure();
      } finally {
        sts.setLifetimeMs(undefined);
      }
      await store.put('raw/t/f1/a', bytes('first'));
      expect(tokensFor(bucket).length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      await store.put('raw/t/f2/b', bytes('second'));
      expect(await store.list('raw/')).toEqual(['raw/t/f1/a', 'raw/t/f2/b']);
      const [first, second] = tokensFor(bucket);
      expect(tokensFor(bucket).length).toBe(2);
      expect(sts.sessions.get(second)?.expiration.getTime()).toBeGreaterThan(Date.now() + 850_000);
      expect(requestsTo(bucket).filter((r) => r.action !== 's3:CreateBucket' && r.sessionToken !== undefined).map((r) => [r.action, r.sessionToken === first ? 'first' : r.sessionToken === second ? 'second' : r.sessionToken])).toEqual([
        ['s3:ListBucket', 'first'], // ensure() tries the session on the bucket
        ['s3:PutObject', 'first'],
        ['s3:PutObject', 'second'],
        ['s3:ListBucket', 'second'],
      ]);
      expect(proxy.requests.filter((r) => r.bucket === bucket && r.refused)).toEqual([]);
    } finally {
      await store.destroy();
      platformClient.destroy();
    }
  });

  describe('with S3_TENANT_CREDENTIALS unset (shared, the default)', () => {
    let rt: TestRuntime;
    beforeAll(async () => {
      rt = await startRuntime('pglite', { ...s3Env(), TENANT_HEALTH_BACKOFF_MS: '1' });
    });
    afterAll(async () => rt?.close());

    it('every request is signed with the platform key, and STS is never called', async () => {
      const callsBefore = sts.calls.length;
      const since = proxy.requests.length;
      const id = await rt.tenant('shared');
      const bucket = bucketOf(id);
      const s = await getTenantStatus(rt.services, id);
      expect(s.state).toBe('ACTIVE');
      expect(stepOf(s, 'storage').resource_ids).toEqual({ schema: expect.any(String), bucket, bucket_credentials: 'shared' });
      const store = (await rt.services.planes.forTenant(id)).store;
      expect(store.credentials).toBe('shared');
      await store.put(`raw/${id}/f1/abc`, bytes('shared'));
      expect(new TextDecoder().decode((await store.getBytes(`raw/${id}/f1/abc`)) ?? new Uint8Array())).toBe('shared');
      const seen = requestsTo(bucket, since);
      expect(seen.map((r) => r.action)).toEqual(expect.arrayContaining(['s3:CreateBucket', 's3:ListBucket', 's3:PutObject', 's3:GetObject']));
      for (const r of seen) expect([r.action, r.accessKeyId, r.sessionToken, r.refused]).toEqual([r.action, platform().accessKeyId, undefined, undefined]);
      expect(sts.calls.length).toBe(callsBefore);
    });
  });
});
