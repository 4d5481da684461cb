import { describe, expect, it } from 'vitest';
import { exports } from 'cloudflare:workers';
describe('spike', () => {
  it(`SELF fetch`, async () => {
    const res = await (exports as any).default.fetch('http://x/');
    expect(await res.text()).toBe('1');
    await new Promise((r) => setTimeout(r, 300));
  });
});
