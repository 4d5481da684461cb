import { lookup } from 'node:dns/promises';
import type { ResolveHost } from '../webhooks/ports';

/**
 * Resolves a webhook host the way the connection would (getaddrinfo: /etc/hosts, then DNS),
 * every address of both families, so the destination check sees what a connect could reach.
 */
export const nodeResolveHost: ResolveHost = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};
