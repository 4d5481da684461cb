import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './helpers/server-process';

/**
 * The /docs page in a real headless Chromium against `npm start`: it renders the OpenAPI
 * document, lists the batch route, sends a request with a token, and loads nothing from any
 * other origin (the CSP would block it, and a violation shows up as a console error).
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

describe('API reference page in Chromium', () => {
  let dataDir: string;
  let shots: string;
  let server: ServerProcess;
  let token: string;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's Chromium with \`apt-get install -y chromium\` (CI: add \`chromium\` to the OS packages step of .ci/run)`);
    }
    dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-docs-'));
    shots = mkdtempSync(join(tmpdir(), 'frostbyte-docs-shots-'));
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir }, { waitFor: /export TOKEN=/ });
    token = /export TOKEN=(\S+)/.exec(server.output())?.[1] ?? '';
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (shots) rmSync(shots, { recursive: true, force: true });
  });

  it('lists the batch route, sends a request with the token, and loads nothing from elsewhere', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      // The 404 the page is asked to fetch below is an answer, not a problem.
      if (m.type() === 'error' && !m.location().url.includes('/batch/no-such-batch')) problems.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => problems.push(e.message));

    const res = await page.goto(`${server.url}/docs`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });

    const submit = page.locator('details[data-method="post"][data-path="/api/v1/ingest/{tenant_id}/batch"]');
    expect(await submit.locator('summary').textContent()).toContain('Submit a batch');
    expect(await page.locator('nav a', { hasText: '/api/v1/ingest/{tenant_id}/batch' }).first().isVisible()).toBe(true);

    // Open the batch-status operation and try it: the demo token, a batch that does not exist.
    await page.fill('#token', token);
    const status = page.locator('details[data-method="get"][data-path="/api/v1/ingest/{tenant_id}/batch/{batch_id}"]');
    await status.locator('summary').click();
    await status.locator('input[name="path:tenant_id"]').fill('demo');
    await status.locator('input[name="path:batch_id"]').fill('no-such-batch');
    await status.locator('button', { hasText: 'Send GET' }).click();
    await status.locator('.result-status[data-status]').waitFor({ timeout: 10_000 });
    expect(await status.locator('.result-status').getAttribute('data-status')).toBe('404');
    expect(await status.locator('.response-body').textContent()).toContain('"code": "NOT_FOUND"');

    await submit.locator('summary').click();
    expect(await submit.locator('.schema').first().textContent()).toContain('sha256');
    const shot = join(shots, 'docs.png');
    await page.screenshot({ path: shot, fullPage: false });
    expect(statSync(shot).size).toBeGreaterThan(10_000);

    const origin = new URL(server.url).origin;
    expect(requests.filter((u) => new URL(u).origin !== origin), 'requests to other origins').toEqual([]);
    expect(requests).toContain(`${origin}/openapi.json`);
    expect(problems, 'console errors (a CSP violation is one)').toEqual([]);
    await page.close();
  }, 60_000);

  it('serves /openapi.json with this server as the first server', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; servers: { url: string }[]; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers[0].url).toBe(server.url);
    expect(Object.keys(doc.paths)).toContain('/api/v1/ingest/{tenant_id}/batch');
  });
});
