// A local stand-in for the providers' APIs, speaking their real request
// and answer shapes (../shared/reference/protocols.md): WhatsApp Cloud API
// and Messenger/Instagram (Graph: POST /{ver}/{id}/messages) and the
// Telegram Bot API (POST /bot<token>/sendMessage|sendDocument).
//
//   node tests/fakes/channels.mjs PORT [DELAY_MS]
//
// It keeps what it received, and can be told how to answer next:
//   GET  /_sent                     every message accepted: [{channel, path, auth, body}]
//   GET  /_tried                    every request: [{channel, at (ms), answer}]
//   POST /_mode {channel, mode, n?, retry_after?}
//        mode: ok | jitter (ok after 0–150 ms) | 429 | 500 | hang | reject — for the next n requests
//        of that channel (default: until told otherwise)
//   POST /_reset
// /hook/<anything> stands for an integrator's endpoint (our generic
// webhook); it keeps the raw body and X-Chat4All-Signature to check.
// Every answer waits DELAY_MS (default 0) first, like a provider far away.
import http from 'node:http';

const port = Number(process.argv[2] || 0);
const delay = Number(process.argv[3] || 0);
let sent = [];
let tried = [];
let modes = {};
let counter = 0;

function channelOf(path) {
  if (path.startsWith('/bot')) return 'telegram';
  if (path.startsWith('/hook/')) return 'webhook'; // an integrator's endpoint
  const id = path.split('/')[2];
  if (id === process.env.FAKE_WHATSAPP_ID) return 'whatsapp';
  if (id === process.env.FAKE_INSTAGRAM_ID) return 'instagram';
  return 'messenger';
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function answer(channel, req, res, body) {
  const m = modes[channel];
  const mode = m && m.n !== 0 ? m.mode : 'ok';
  if (m && m.n > 0) m.n--;
  tried.push({ channel, at: Date.now(), answer: mode, body });
  if (mode === 'hang') return; // never answers: the caller's timeout decides
  if (mode === 'jitter' && !req.jittered) { // ok, but after 0–150 ms: concurrent sends finish out of order
    req.jittered = true;
    if (m.n > 0) m.n++; // this one still counts once
    tried.pop();
    return setTimeout(() => answer(channel, req, res, body), Math.random() * 150);
  }
  if (mode === '429') {
    if (channel === 'telegram') {
      return reply(res, 429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after ' + (m.retry_after ?? 1), parameters: { retry_after: m.retry_after ?? 1 } });
    }
    return reply(res, 429, { error: { message: 'rate limited', code: 4 } }, { 'Retry-After': String(m.retry_after ?? 1) });
  }
  if (mode === '500') {
    return channel === 'telegram'
      ? reply(res, 500, { ok: false, error_code: 500, description: 'Internal Server Error' })
      : reply(res, 500, { error: { message: 'An unexpected error has occurred', code: 2 } });
  }
  if (mode === 'reject') {
    return channel === 'telegram'
      ? reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' })
      : reply(res, 400, { error: { message: '(#131030) Recipient phone number not in allowed list', code: 131030 } });
  }
  sent.push({ channel, path: req.url, auth: req.headers.authorization || '', body, raw: req.rawBody, signature: req.headers['x-chat4all-signature'] || '' });
  counter++;
  if (channel === 'webhook') return reply(res, 200, { received: true });
  if (channel === 'whatsapp') {
    return reply(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: body.to, wa_id: body.to }], messages: [{ id: `wamid.FAKE${counter}` }] });
  }
  if (channel === 'telegram') {
    return reply(res, 200, { ok: true, result: { message_id: counter, date: Math.floor(Date.now() / 1000), chat: { id: body.chat_id }, text: body.text } });
  }
  return reply(res, 200, { recipient_id: body.recipient?.id, message_id: `m_FAKE${counter}` });
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { return reply(res, 400, { error: { message: 'bad JSON' } }); }
    if (req.url === '/_sent') return reply(res, 200, sent);
    if (req.url === '/_tried') return reply(res, 200, tried);
    if (req.url === '/_reset') { sent = []; tried = []; modes = {}; return reply(res, 200, {}); }
    if (req.url === '/_mode') { modes[body.channel] = { mode: body.mode, n: body.n ?? -1, retry_after: body.retry_after }; return reply(res, 200, {}); }
    if (req.method !== 'POST') return reply(res, 404, { error: { message: 'unknown path' } });
    const channel = channelOf(req.url);
    req.rawBody = raw;
    setTimeout(() => answer(channel, req, res, body), delay);
  });
});
server.listen(port, '127.0.0.1', () => {
  console.log(`fake channels listening on ${server.address().port}`);
});
