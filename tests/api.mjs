// What every node suite needs of the API: its address (CHAT4ALL_TEST_URL),
// a call, a bounded wait, and a live stream to listen on. The channel
// suites add their fakes' part in tests/channels/client.mjs.
import assert from 'node:assert/strict';

export const base = process.env.CHAT4ALL_TEST_URL;
assert.ok(base, 'run from tools/test.sh (CHAT4ALL_TEST_URL)');

export const tag = Date.now() % 1e6;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function call(method, path, { token, body, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined && raw === undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers: h, body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// Polls @fn until it returns something truthy (30 s at most: a bound, not a measure).
export async function until(fn, what) {
  for (let i = 0; i < 300; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`never: ${what}`);
}

// The stream of @token's user, read as it comes: heard() is all of it so
// far; close() ends it.
export async function listen(token) {
  const stop = new AbortController();
  const res = await fetch(`${base}/v1/stream`, { headers: { Authorization: `Bearer ${token}` }, signal: stop.signal });
  assert.equal(res.status, 200, 'the stream opens');
  let heard = '';
  const reading = (async () => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) heard += dec.decode(chunk, { stream: true });
    } catch { /* aborted by close() */ }
  })();
  return { heard: () => heard, close: async () => { stop.abort(); await reading; } };
}
