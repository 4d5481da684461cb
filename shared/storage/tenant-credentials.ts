import type { S3Client } from '@aws-sdk/client-s3';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { BucketCredentialsError, type ObjectStoreFactory } from './object-store';
import { createS3Client, createS3Store, type S3ClientSettings } from './s3-store';

/**
 * Per-tenant bucket credentials (S3_TENANT_CREDENTIALS=sts): each tenant's object requests are
 * signed with a temporary session from the S3 server's STS AssumeRole API (MinIO serves it on the
 * S3 endpoint; AWS at sts.amazonaws.com), asked for with the platform's key and a session policy
 * that names only that tenant's bucket. The server grants the intersection of that policy and the
 * platform key's own, so a session can never reach another tenant's bucket, whatever the
 * platform key may do.
 */
export interface StsSettings {
  /** Where AssumeRole is served: S3_STS_ENDPOINT, default S3_ENDPOINT. */
  endpoint: string;
  region: string;
  /** The platform's key: it signs the AssumeRole calls. */
  accessKeyId: string;
  secretAccessKey: string;
  /** S3_STS_ROLE_ARN: required by AWS; MinIO ignores it for its own users. */
  roleArn?: string;
  /** Lifetime of a session in seconds (S3_STS_DURATION_SECONDS, 900–43200). */
  durationSeconds: number;
}

const OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const BUCKET_ACTIONS = ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'];

/**
 * The session policy of a bucket: what the object store does in it (read, write, copy, delete,
 * list, multipart uploads) and nothing else. No bucket creation or deletion, no other bucket.
 * Serialised compactly: STS caps a session policy at 2048 characters.
 */
export function bucketSessionPolicy(bucket: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: OBJECT_ACTIONS, Resource: [`arn:aws:s3:::${bucket}/*`] },
      { Effect: 'Allow', Action: BUCKET_ACTIONS, Resource: [`arn:aws:s3:::${bucket}`] },
    ],
  });
}

/**
 * A credential provider for one bucket: each call is one AssumeRole request (the S3 client that
 * uses it caches the session and asks again five minutes before it expires). A failed call
 * throws BucketCredentialsError naming the bucket, the STS endpoint and S3_TENANT_CREDENTIALS.
 */
export function bucketCredentialProvider(sts: StsSettings, bucket: string) {
  const assumeRole = fromTemporaryCredentials({
    masterCredentials: { accessKeyId: sts.accessKeyId, secretAccessKey: sts.secretAccessKey },
    clientConfig: { endpoint: sts.endpoint, region: sts.region },
    params: {
      RoleArn: sts.roleArn,
      // Shows in the server's logs (AWS CloudTrail, MinIO audit); at most 64 characters.
      RoleSessionName: bucket.slice(0, 64),
      Policy: bucketSessionPolicy(bucket),
      DurationSeconds: sts.durationSeconds,
    },
  });
  return async (props?: Parameters<typeof assumeRole>[0]) => {
    try {
      return await assumeRole(props);
    } catch (err) {
      throw new BucketCredentialsError(bucket, sts.endpoint, err);
    }
  };
}

/**
 * The stores of tenant buckets with per-tenant credentials: one S3 client per bucket, signing
 * with that bucket's session and sending through the platform client's connection pool. Bucket
 * creation and deletion go through `platform` (a session cannot create or delete its own bucket).
 * A bucket's client is dropped when the bucket is destroyed.
 */
export function scopedS3Stores(platform: S3Client, settings: S3ClientSettings, sts: StsSettings): ObjectStoreFactory {
  const clients = new Map<string, S3Client>();
  const clientFor = (bucket: string) => {
    let client = clients.get(bucket);
    if (!client) {
      client = createS3Client(settings, { credentials: bucketCredentialProvider(sts, bucket), connectionsOf: platform });
      clients.set(bucket, client);
    }
    return client;
  };
  return (bucket) => {
    const store = createS3Store(clientFor(bucket), bucket, { bucketAdmin: platform });
    return {
      ...store,
      async destroy() {
        await store.destroy();
        clients.delete(bucket);
      },
    };
  };
}
