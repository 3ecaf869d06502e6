// What the channel suites share (tests/channels/channels.mjs,
// tests/kafka/deliveries.mjs, tests/traces/trace.mjs): the API (tests/api.mjs)
// and the fake providers (tests/fakes/channels.mjs) as tools/test.sh started them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { base, tag, sleep, call, until, listen } from '../api.mjs';

export { base, tag, sleep, call, until, listen };
export const fake = process.env.FAKE_URL;
export const APP_SECRET = process.env.CHAT4ALL_META_APP_SECRET;
export const TG_SECRET = process.env.CHAT4ALL_TELEGRAM_WEBHOOK_SECRET;
export const VERIFY = process.env.CHAT4ALL_META_VERIFY_TOKEN;
export const OWNER = process.env.CHAT4ALL_CHANNEL_OWNER;
export const WA_ID = process.env.CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID;
assert.ok(fake && APP_SECRET && TG_SECRET && OWNER, 'run from tools/test.sh');

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

