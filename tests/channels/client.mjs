// What the channel suites share (tests/channels/channels.mjs,
// tests/kafka/deliveries.mjs): the API and the fake providers
// (tests/fakes/channels.mjs) as tools/test.sh started them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

export const base = process.env.CHAT4ALL_TEST_URL;
export const fake = process.env.FAKE_URL;
export const APP_SECRET = process.env.CHAT4ALL_META_APP_SECRET;
export const TG_SECRET = process.env.CHAT4ALL_TELEGRAM_WEBHOOK_SECRET;
export const VERIFY = process.env.CHAT4ALL_META_VERIFY_TOKEN;
export const OWNER = process.env.CHAT4ALL_CHANNEL_OWNER;
export const WA_ID = process.env.CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID;
assert.ok(base && fake && APP_SECRET && TG_SECRET && OWNER, 'run from tools/test.sh');

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

export async function user(name) {
  const creds = { username: name, password: 'channels password' };
  await call('POST', '/v1/auth/register', { body: { ...creds, display_name: name } });
  const t = await call('POST', '/v1/auth/token', { body: creds });
  assert.equal(t.status, 200, `sign-in of ${name}: ${t.text}`);
  const me = await call('GET', '/v1/me', { token: t.json.access_token });
  return { token: t.json.access_token, id: me.json.id };
}

export const fakeGet = async (p) => (await fetch(fake + p)).json();
export const fakeMode = (channel, mode, extra = {}) =>
  fetch(fake + '/_mode', { method: 'POST', body: JSON.stringify({ channel, mode, ...extra }) });

// Polls @fn until it returns something truthy (30 s at most: a bound, not a measure).
export async function until(fn, what) {
  for (let i = 0; i < 300; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`never: ${what}`);
}

export function metaPost(channel, payload, secret = APP_SECRET) {
  const raw = JSON.stringify(payload);
  const sig = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
  return call('POST', `/v1/webhooks/${channel}`, { raw, headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': sig } });
}

export const waMessage = (from, name, id, text) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001', phone_number_id: WA_ID },
    contacts: [{ profile: { name }, wa_id: from }],
    messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
  } }] }],
});
export async function history(token, conv) {
  return (await call('GET', `/v1/conversations/${conv}/messages?after=0&limit=100`, { token })).json.items;
}

export async function sendText(token, conv, text, extra = {}) {
  const r = await call('POST', `/v1/conversations/${conv}/messages`, { token, body: { client_id: `ch-${tag}-${Math.random()}`, text, ...extra } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

export const deliveries = async (token, id) => (await call('GET', `/v1/messages/${id}/deliveries`, { token })).json.items;

