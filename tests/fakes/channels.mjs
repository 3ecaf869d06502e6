// A local stand-in for the providers' APIs, speaking their real request
// and answer shapes (../shared/reference/protocols.md): WhatsApp Cloud API
// and Messenger/Instagram (Graph: POST /{ver}/{id}/messages) and the
// Telegram Bot API (POST /bot<token>/sendMessage|sendDocument).
//
//   node tests/fakes/channels.mjs PORT [DELAY_MS]
//
// It keeps what it received, and can be told how to answer next:
//   GET  /_sent                     every message accepted: [{channel, path, auth, body, traceparent}]
//   GET  /_tried                    every request: [{channel, at (ms), answer}]
//   GET  /_hanging                  requests held open by mode hang, now: {channel: n}
//   POST /_mode {channel, mode, n?, retry_after?, max_ms?}
//        mode: ok | jitter (ok after 0–max_ms ms, 150 by default) | 429 | 500 | hang | reject — for the next n requests
//        of that channel (default: until told otherwise)
//   POST /_reset
// /hook/<anything> stands for an integrator's endpoint (our generic
// webhook); it keeps the raw body and X-Chat4All-Signature to check.
//
// Media a contact sends (what Chat4All fetches when a webhook names one):
//   POST /_media {id, b64, mime}    registers bytes under a media id
//   GET  /{ver}/{id}                WhatsApp's media lookup (Bearer) → {url, mime_type, sha256, file_size, id}
//   GET  /wa-media/{id}             the bytes behind that url (Bearer, like lookaside.fbsbx.com)
//   GET  /bot<token>/getFile?file_id=  Telegram → {ok, result: {file_id, file_size, file_path}}
//   GET  /file/bot<token>/{path}    the bytes of a Telegram file
//   GET  /cdn/{id}                  a Messenger/Instagram attachment URL (no auth)
//   GET  /_fetched                  every media GET: [{path, auth}]
// POST /_mode {channel: "media", …} tells the media GETs how to answer too
// (and mode "slow" answers them after retry_after seconds).
// Every answer waits DELAY_MS (default 0) first, like a provider far away.
import { createHash } from 'node:crypto';
import http from 'node:http';

const port = Number(process.argv[2] || 0);
const delay = Number(process.argv[3] || 0);
let sent = [];
let tried = [];
let modes = {};
let counter = 0;
let media = {};
let fetched = [];
let hanging = {}; // per channel: requests held open right now

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
  if (mode === 'hang') { // never answers: the caller's timeout decides
    hanging[channel] = (hanging[channel] || 0) + 1;
    res.on('close', () => { hanging[channel]--; });
    return;
  }
  if (mode === 'jitter' && !req.jittered) { // ok, but after 0–150 ms: concurrent sends finish out of order
    req.jittered = true;
    if (m.n > 0) m.n++; // this one still counts once
    tried.pop();
    return setTimeout(() => answer(channel, req, res, body), Math.random() * (m.max_ms ?? 150));
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
  sent.push({ channel, path: req.url, auth: req.headers.authorization || '', body, raw: req.rawBody, signature: req.headers['x-chat4all-signature'] || '', traceparent: req.headers.traceparent || '' });
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

// A media GET: lookups and bytes, by the provider's rules above.
function mediaGet(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const auth = req.headers.authorization || '';
  if (!req.slowed) fetched.push({ path: url.pathname + url.search, auth, at: Date.now() });
  const m = modes.media;
  if (m && m.n !== 0 && !req.slowed) {
    if (m.n > 0) m.n--;
    if (m.mode === '500') return reply(res, 500, { error: { message: 'media store down' } });
    if (m.mode === 'slow') { // a far, slow store: answers after retry_after seconds
      req.slowed = true;
      return setTimeout(() => mediaGet(req, res), (m.retry_after ?? 1) * 1000);
    }
  }
  const bytes = (id) => {
    const it = media[id];
    if (!it) return reply(res, 404, { error: { message: 'no such media' } });
    res.writeHead(200, { 'Content-Type': it.mime, 'Content-Length': it.data.length });
    return res.end(it.data);
  };
  let k;
  if ((k = url.pathname.match(/^\/wa-media\/(.+)$/))) {
    return auth.startsWith('Bearer ') ? bytes(k[1]) : reply(res, 401, { error: { message: 'no token' } });
  }
  if ((k = url.pathname.match(/^\/cdn\/(.+)$/))) return bytes(k[1]);
  if ((k = url.pathname.match(/^\/file\/bot[^/]+\/media\/(.+)$/))) return bytes(k[1]);
  if (/^\/bot[^/]+\/getFile$/.test(url.pathname)) {
    const id = url.searchParams.get('file_id');
    if (!media[id]) return reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
    return reply(res, 200, { ok: true, result: { file_id: id, file_unique_id: `u${id}`, file_size: media[id].data.length, file_path: `media/${id}` } });
  }
  if ((k = url.pathname.match(/^\/v[\d.]+\/(\d+)$/))) { // WhatsApp: GET /{ver}/{media-id}
    if (!auth.startsWith('Bearer ')) return reply(res, 401, { error: { message: 'no token' } });
    const it = media[k[1]];
    if (!it) return reply(res, 404, { error: { message: 'Unsupported get request. Object does not exist', code: 100 } });
    return reply(res, 200, { messaging_product: 'whatsapp', url: `http://${req.headers.host}/wa-media/${k[1]}`, mime_type: it.mime, sha256: it.sha256, file_size: it.data.length, id: k[1] });
  }
  return reply(res, 404, { error: { message: 'unknown path' } });
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { return reply(res, 400, { error: { message: 'bad JSON' } }); }
    if (req.url === '/_sent') return reply(res, 200, sent);
    if (req.url === '/_tried') return reply(res, 200, tried);
    if (req.url === '/_reset') { sent = []; tried = []; modes = {}; fetched = []; return reply(res, 200, {}); }
    if (req.url === '/_fetched') return reply(res, 200, fetched);
    if (req.url === '/_hanging') return reply(res, 200, hanging);
    if (req.url === '/_media') {
      const data = Buffer.from(body.b64, 'base64');
      media[body.id] = { data, mime: body.mime, sha256: createHash('sha256').update(data).digest('hex') };
      return reply(res, 200, {});
    }
    if (req.method === 'GET') return mediaGet(req, res);
    if (req.url === '/_mode') { modes[body.channel] = { mode: body.mode, n: body.n ?? -1, retry_after: body.retry_after, max_ms: body.max_ms }; return reply(res, 200, {}); }
    if (req.method !== 'POST') return reply(res, 404, { error: { message: 'unknown path' } });
    const channel = channelOf(req.url);
    req.rawBody = raw;
    setTimeout(() => answer(channel, req, res, body), delay);
  });
});
server.listen(port, '127.0.0.1', () => {
  console.log(`fake channels listening on ${server.address().port}`);
});
