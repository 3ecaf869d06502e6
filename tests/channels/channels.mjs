// Channels end to end against the real stack and the local fake providers
// (tests/fakes/channels.mjs): inbound webhooks (signatures, duplicates),
// outbound deliveries (bodies and tokens, Retry-After, a dead channel,
// channel-only messages), provider statuses flowing back, identities.
// tools/test.sh starts the fake and the stack with the matching settings:
//   CHAT4ALL_TEST_URL, FAKE_URL, and the secrets below.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import {
  base, fake, APP_SECRET, TG_SECRET, VERIFY, OWNER, WA_ID, tag, sleep, call, user, fakeGet, fakeMode,
  until, metaPost, waMessage, history, sendText, deliveries,
} from './client.mjs';

const waStatus = (id, status, recipient) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { phone_number_id: WA_ID },
    statuses: [{ id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: recipient }],
  } }] }],
});

// What the fake provider got for @address (a WhatsApp number, a Telegram chat).
const sentTo = async (address) => (await fakeGet('/_sent')).filter((x) => String(x.body.to ?? x.body.chat_id ?? x.body.recipient?.id) === String(address));
// The code a claim sent to @address, as its owner would read it there.
async function codeAt(address, after = 0) {
  return until(async () => {
    const texts = (await sentTo(address)).slice(after).map((x) => JSON.stringify(x.body));
    const m = texts.map((t) => t.match(/Chat4All code is (\d{6})/)).filter(Boolean).pop();
    return m && m[1];
  }, `a code at ${address}`);
}
// @who links @address on @channel the only way there is: asks, reads the
// code where it went, brings it back.
async function link(who, channel, address) {
  const before = (await sentTo(address)).length;
  const ask = await call('POST', '/v1/me/identities', { token: who.token, body: { channel, address: String(address) } });
  assert.equal(ask.status, 202, ask.text);
  assert.equal(ask.json.status, 'pending');
  const code = await codeAt(address, before);
  const ok = await call('POST', `/v1/me/identities/${channel}/${address}/verify`, { token: who.token, body: { code } });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json.status, 'verified');
}

// ---------------------------------------------------------------- setup
const owner = await user(OWNER);
// channel_owner names an agent, which only an admin makes: whoever signs
// up under that name first receives no customer's conversation (before,
// the first to register 'support' got them all)
const psqlValue = (sql) => execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "${sql}"`]).toString().trim();
const receiveAs = (owners, address, pid) => psqlValue(`SELECT outcome FROM channel_receive('whatsapp', '${address}', 'Early Bird', '${pid}', 'hello?', '${owners}', gen_random_uuid(), 'test', NULL)`);
assert.equal(receiveAs(OWNER, `55114${String(tag).padStart(8, '0')}`, `wamid.EARLY${tag}`), 'noowner');
assert.equal(psqlValue(`SELECT count(*) FROM identities WHERE address = '55114${String(tag).padStart(8, '0')}'`), '0', 'nothing was made for it');
execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['agent', OWNER], { stdio: 'ignore' });
const bob = await user(`chbob_${tag}`);
const phone = `55119${String(tag).padStart(8, '0')}`;

// the subscription check
{
  const ok = await call('GET', `/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`);
  assert.equal(ok.status, 200);
  assert.equal(ok.text, '1158201444');
  const bad = await call('GET', '/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1');
  assert.equal(bad.status, 403);
}

// ---------------------------------------------------------------- inbound
// shapes we do not expect are skipped, not fatal: the workers stay up
assert.equal((await metaPost('whatsapp', { object: 'whatsapp_business_account', entry: 'not a list' })).status, 200);
assert.equal((await metaPost('whatsapp', { entry: [{ changes: [{ value: { messages: [{ from: 5, id: {}, text: 7 }], statuses: 'x' } }] }] })).status, 200);
const junk = async () => (await call('GET', '/v1/conversations?limit=100', { token: (await user(OWNER)).token })).json.items.length;
const before = await junk();
const first = waMessage(phone, 'Maria Souza', `wamid.IN${tag}a`, 'Olá! Vocês entregam amanhã?');
assert.equal((await metaPost('whatsapp', first)).status, 200);
const conv = await until(async () => {
  const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
  return list.find((c) => c.peer?.display_name === 'Maria Souza');
}, 'the WhatsApp contact\'s conversation');
await until(async () => (await history(owner.token, conv.id)).some((m) => m.text === 'Olá! Vocês entregam amanhã?'), 'the inbound message');
const contactId = conv.peer.user_id;
assert.equal(await junk(), before + 1, 'the malformed webhooks made nothing');

// the provider retries: still one message
assert.equal((await metaPost('whatsapp', first)).status, 200);
// a forged one: 401, and nothing of it is kept
const forged = waMessage(phone, 'Maria Souza', `wamid.IN${tag}forged`, 'forged text');
assert.equal((await metaPost('whatsapp', forged, 'not the secret')).status, 401);
assert.equal((await call('POST', '/v1/webhooks/whatsapp', { raw: JSON.stringify(forged), headers: { 'Content-Type': 'application/json' } })).status, 401);
const second = waMessage(phone, 'Maria Souza', `wamid.IN${tag}b`, 'second one');
assert.equal((await metaPost('whatsapp', second)).status, 200);
await until(async () => (await history(owner.token, conv.id)).some((m) => m.text === 'second one'), 'the second inbound message');
{
  const texts = (await history(owner.token, conv.id)).map((m) => m.text);
  assert.equal(texts.filter((t) => t === 'Olá! Vocês entregam amanhã?').length, 1, 'a duplicate webhook made one message');
  assert.equal(texts.includes('forged text'), false);
}

// a long name in a script of two-byte letters: cut between letters, never
// inside one (cut on a byte count it was invalid UTF-8, PostgreSQL refused
// it, and every message of that contact was lost)
{
  const longPhone = `55118${String(tag).padStart(8, '0')}`;
  assert.equal((await metaPost('whatsapp', waMessage(longPhone, 'Ä'.repeat(100), `wamid.LONG${tag}`, 'a long name'))).status, 200);
  const c = await until(async () => {
    const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
    return list.find((x) => x.peer?.username === `whatsapp:${longPhone}`);
  }, 'the message of the contact with a long name');
  assert.match(c.peer.display_name, /^Ä+$/);
  assert.ok(c.peer.display_name.length >= 64, c.peer.display_name);
  // a body that is not UTF-8, however well signed: 400, nothing queued
  const raw = Buffer.concat([Buffer.from('{"object":"whatsapp_business_account","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  const sig = 'sha256=' + createHmac('sha256', APP_SECRET).update(raw).digest('hex');
  const bad = await call('POST', '/v1/webhooks/whatsapp', { raw, headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': sig } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.type, '/problems/invalid-json');
}

// Telegram: a bad secret is 401; the right one brings the message in
const update = { update_id: 900000 + (tag % 1000), message: { message_id: 77, date: Math.floor(Date.now() / 1000), chat: { id: 4200000 + (tag % 1000), type: 'private' }, from: { id: 4200000 + (tag % 1000), first_name: 'Ivan', last_name: 'Petrov' }, text: 'Privet from Telegram' } };
assert.equal((await call('POST', '/v1/webhooks/telegram', { raw: JSON.stringify(update), headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': 'wrong' } })).status, 401);
assert.equal((await call('POST', '/v1/webhooks/telegram', { raw: JSON.stringify(update), headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': TG_SECRET } })).status, 200);
const tgConv = await until(async () => {
  const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
  return list.find((c) => c.peer?.display_name === 'Ivan Petrov');
}, 'the Telegram contact\'s conversation');

// Messenger (the Page webhook shape, signed like WhatsApp's)
const psid = String(7000000000000 + tag);
const fbEvent = { object: 'page', entry: [{ id: process.env.CHAT4ALL_MESSENGER_PAGE_ID, time: Date.now(), messaging: [
  { sender: { id: psid }, recipient: { id: process.env.CHAT4ALL_MESSENGER_PAGE_ID }, timestamp: Date.now(), message: { mid: `m_IN${tag}`, text: 'Hi from Messenger' } }] }] };
assert.equal((await metaPost('messenger', fbEvent)).status, 200);
const fbConv = await until(async () => {
  const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
  return list.find((c) => c.last_message?.text === 'Hi from Messenger');
}, 'the Messenger contact\'s conversation');

// Instagram: the same shape under object "instagram", its own account id
const igsid = String(1784000000000000 + tag);
const igEvent = { object: 'instagram', entry: [{ id: process.env.CHAT4ALL_INSTAGRAM_ACCOUNT_ID, time: Date.now(), messaging: [
  { sender: { id: igsid }, recipient: { id: process.env.CHAT4ALL_INSTAGRAM_ACCOUNT_ID }, timestamp: Date.now(), message: { mid: `ig_IN${tag}`, text: 'Hi from Instagram' } }] }] };
assert.equal((await metaPost('instagram', igEvent)).status, 200);
const igConv = await until(async () => {
  const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
  return list.find((c) => c.last_message?.text === 'Hi from Instagram');
}, 'the Instagram contact\'s conversation');

// a contact's username is its identity: no person can register it first
assert.equal(conv.peer.username, `whatsapp:${phone}`);

// a team: channel_owner may name several people (comma-separated); a new
// contact's messages then arrive in a group of them, its first named admin,
// names that are no one left out (called here as the inbound job calls it:
// this stack's channel_owner is one person)
{
  const a = await user(`agenta_${tag}`);
  const b = await user(`agentb_${tag}`);
  for (const name of [`agenta_${tag}`, `agentb_${tag}`])
    execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['agent', name], { stdio: 'ignore' });
  const teamPhone = `55116${String(tag).padStart(8, '0')}`;
  const receive = (pid, text) => execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "SELECT outcome, conversation_id, created FROM channel_receive('whatsapp', '${teamPhone}', 'Team Test', '${pid}', '${text}', 'agenta_${tag}, nobody_${tag}, agentb_${tag}, agenta_${tag}', gen_random_uuid(), 'test', NULL)"`]).toString().trim().split('|');
  const [outcome, teamConv, created] = receive(`wamid.T1${tag}`, 'hello team');
  assert.deepEqual([outcome, created], ['created', 't']);
  const [, again, createdAgain] = receive(`wamid.T2${tag}`, 'still me');
  assert.deepEqual([again, createdAgain], [teamConv, 'f'], 'later messages go to the same inbox');
  const c = (await call('GET', `/v1/conversations/${teamConv}`, { token: a.token })).json;
  assert.equal(c.type, 'group');
  assert.equal(c.title, 'Team Test (Whatsapp)');
  assert.deepEqual(c.members.map((m) => [m.username, m.role]).sort(),
    [[`agenta_${tag}`, 'admin'], [`agentb_${tag}`, 'member'], [`whatsapp:${teamPhone}`, 'member']]);
  await until(async () => (await history(b.token, teamConv)).filter((m) => ['hello team', 'still me'].includes(m.text)).length === 2, 'both messages, for the second agent too');
  await sendText(b.token, teamConv, 'Agent B here');
  const out = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.to === teamPhone), 'the agent\'s reply on WhatsApp');
  assert.equal(out.body.text.body, 'Agent B here');
}

// ---------------------------------------------------------------- inbound media
// Photos and documents are fetched from the provider into the file store
// and arrive as the message's file: same bytes, its SHA-256, the owner
// can download it.
const registerMedia = async (id, mime, size) => {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + id.length * 7) & 0xff;
  data.write(`media ${id}`);
  await fetch(fake + '/_media', { method: 'POST', body: JSON.stringify({ id, mime, b64: data.toString('base64') }) });
  return data;
};
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
async function content(token, fileId) {
  const r = await fetch(`${base}/v1/files/${fileId}/content`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `download of ${fileId}`);
  return Buffer.from(await r.arrayBuffer());
}
const waMedia = (from, id, type, member) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
    messaging_product: 'whatsapp', metadata: { phone_number_id: WA_ID },
    contacts: [{ profile: { name: 'Maria Souza' }, wa_id: from }],
    messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), type, [type]: member }],
  } }] }],
});
const inHistory = (token, c, pred, what) => until(async () => (await history(token, c)).find(pred), what);
await fetch(fake + '/_reset', { method: 'POST' });
{
  // a WhatsApp photo with a caption; the provider's store fails once first (a retry, not a loss)
  const photoId = `${tag}001`;
  const photo = await registerMedia(photoId, 'image/jpeg', 300 * 1024);
  await fakeMode('media', '500', { n: 1 });
  const hook = waMedia(phone, `wamid.IN${tag}photo`, 'image', { id: photoId, mime_type: 'image/jpeg', sha256: sha256(photo), caption: 'the receipt' });
  assert.equal((await metaPost('whatsapp', hook)).status, 200);
  const m = await inHistory(owner.token, conv.id, (x) => x.text === 'the receipt', 'the WhatsApp photo');
  assert.equal(m.file.mime, 'image/jpeg');
  assert.equal(m.file.size, photo.length);
  assert.equal(m.file.sha256, sha256(photo));
  assert.equal(m.file.filename, 'photo.jpg');
  assert.ok((await content(owner.token, m.file.id)).equals(photo), 'the same bytes');
  const lookups = (await fakeGet('/_fetched')).filter((f) => f.path === `/v21.0/${photoId}`);
  assert.ok(lookups.length >= 2, 'looked up again after the 500');
  assert.ok(lookups.every((f) => f.auth === `Bearer ${process.env.CHAT4ALL_WHATSAPP_TOKEN}`), 'with the token');
  // the provider retries the webhook: one message, and the bytes are not fetched again
  const fetches = (await fakeGet('/_fetched')).length;
  assert.equal((await metaPost('whatsapp', hook)).status, 200);
  const doc = await registerMedia(`${tag}002`, 'application/pdf', 5000);
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}doc`, 'document', { id: `${tag}002`, mime_type: 'application/pdf', filename: '../../etc/contract.pdf' }))).status, 200);
  const d = await inHistory(owner.token, conv.id, (x) => x.file?.filename === 'contract.pdf', 'the WhatsApp document');
  assert.equal(d.text, null);
  assert.equal(d.file.mime, 'application/pdf');
  assert.ok((await content(owner.token, d.file.id)).equals(doc));
  assert.equal((await history(owner.token, conv.id)).filter((x) => x.text === 'the receipt').length, 1, 'a duplicate media webhook made one message');
  assert.equal((await fakeGet('/_fetched')).filter((f) => f.path.includes(photoId)).length, lookups.length + 1, 'the duplicate fetched nothing');
  assert.ok((await fakeGet('/_fetched')).length > fetches);
  // media the provider no longer has: the message still arrives, saying so
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}gone`, 'image', { id: `${tag}999`, mime_type: 'image/jpeg', caption: 'gone photo' }))).status, 200);
  const gone = await inHistory(owner.token, conv.id, (x) => x.text?.startsWith('gone photo'), 'the message of a missing photo');
  assert.equal(gone.text, 'gone photo\n[an image that could not be received: looking the media up: HTTP 404]');
  // a button's reply is its title; a kind of message we cannot show says so
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}btn`, 'interactive', { type: 'button_reply', button_reply: { id: 'yes', title: 'Yes, tomorrow' } }))).status, 200);
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}poll`, 'order', { catalog_id: '1' }))).status, 200);
  await inHistory(owner.token, conv.id, (x) => x.text === 'Yes, tomorrow', 'the button reply');
  await inHistory(owner.token, conv.id, (x) => x.text === '[an order message, which Chat4All cannot show]', 'the unsupported kind');
  assert.equal(gone.file, null);
  // a store slower than the job's lease allows (2 s here): each try ends
  // in time, none overlaps another, and after the last the message arrives
  // with a note rather than not at all
  await registerMedia(`${tag}003`, 'image/jpeg', 1000);
  await fakeMode('media', 'slow', { retry_after: 3 });
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}slow`, 'image', { id: `${tag}003`, mime_type: 'image/jpeg', caption: 'slow photo' }))).status, 200);
  const slow = await inHistory(owner.token, conv.id, (x) => x.text?.startsWith('slow photo'), 'the message of a photo too slow to fetch');
  await fakeMode('media', 'ok');
  assert.match(slow.text, /^slow photo\n\[an image that could not be received: looking the media up: Timeout was reached\]$/);
  const tries = (await fakeGet('/_fetched')).filter((f) => f.path.endsWith(`/${tag}003`));
  assert.equal(tries.length, Number(process.env.CHAT4ALL_JOB_MAX_ATTEMPTS), 'one fetch per attempt');
  for (let i = 1; i < tries.length; i++) assert.ok(tries[i].at - tries[i - 1].at >= 1000, 'one after the other');
  // a burst of photos: the workers are stopped while eight arrive, so a
  // batch holds them all and the store takes 0.8 s a photo (two GETs of
  // 0.4 s) against a 2 s lease — each batch fetches what fits and gives the
  // rest back without spending their attempts: all eight arrive as photos
  // (without the give-back, some end as notes)
  {
    const varDir = process.env.VAR;
    execFileSync('sh', ['-c', `for f in ${varDir}/run/worker-*.pid; do kill -TERM $(cat $f); done`]);
    await until(async () => execFileSync('sh', ['-c', `ls ${varDir}/run/worker-*.pid 2>/dev/null | wc -l`]).toString().trim() === '0', 'the workers stopped');
    for (let k = 1; k <= 8; k++) {
      await registerMedia(`${tag}10${k}`, 'image/jpeg', 2000 + k);
      assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}burst${k}`, 'image', { id: `${tag}10${k}`, mime_type: 'image/jpeg', caption: `burst ${k}` }))).status, 200);
    }
    await fakeMode('media', 'slow', { retry_after: 0.4 });
    execFileSync(process.env.CHAT4ALL_TEST_STACK, ['start'], { stdio: 'ignore' });
    const burst = await until(async () => {
      const got = (await history(owner.token, conv.id)).filter((x) => /^burst \d/.test(x.text || ''));
      return got.length === 8 && got;
    }, 'the eight photos');
    await fakeMode('media', 'ok');
    // (two workers share the burst: their order across workers is not kept)
    assert.deepEqual(burst.map((x) => x.text).sort(), [1, 2, 3, 4, 5, 6, 7, 8].map((k) => `burst ${k}`), 'each a photo, no note');
    assert.ok(burst.every((x) => x.file?.size > 2000), 'every one carries its file');
  }
  // a location is text with a map link
  assert.equal((await metaPost('whatsapp', waMedia(phone, `wamid.IN${tag}loc`, 'location', { latitude: -23.5505, longitude: -46.6333, name: 'Loja Centro' }))).status, 200);
  await inHistory(owner.token, conv.id, (x) => x.text?.includes('Loja Centro') && x.text.includes('openstreetmap.org/?mlat=-23.550500&mlon=-46.633300'), 'the location');

  // Telegram: a photo in several sizes (the largest is fetched), with a caption
  const big = await registerMedia(`tgBig${tag}`, 'image/jpeg', 90 * 1024);
  await registerMedia(`tgSmall${tag}`, 'image/jpeg', 2 * 1024);
  const tgPhoto = { update_id: 910000 + (tag % 1000), message: { message_id: 78, date: Math.floor(Date.now() / 1000), chat: { id: 4200000 + (tag % 1000), type: 'private' }, from: { id: 4200000 + (tag % 1000), first_name: 'Ivan', last_name: 'Petrov' },
    photo: [{ file_id: `tgSmall${tag}`, width: 90, height: 90 }, { file_id: `tgBig${tag}`, width: 800, height: 800 }], caption: 'view from the window' } };
  assert.equal((await call('POST', '/v1/webhooks/telegram', { raw: JSON.stringify(tgPhoto), headers: { 'Content-Type': 'application/json', 'X-Telegram-Bot-Api-Secret-Token': TG_SECRET } })).status, 200);
  const tp = await inHistory(owner.token, tgConv.id, (x) => x.text === 'view from the window', 'the Telegram photo');
  assert.ok((await content(owner.token, tp.file.id)).equals(big), 'the largest size');

  // Messenger: an image attachment by URL; its type from the answer's Content-Type
  const fbImage = await registerMedia(`fb${tag}`, 'image/png', 40 * 1024);
  const fbAtt = { object: 'page', entry: [{ id: process.env.CHAT4ALL_MESSENGER_PAGE_ID, time: Date.now(), messaging: [
    { sender: { id: psid }, recipient: { id: process.env.CHAT4ALL_MESSENGER_PAGE_ID }, timestamp: Date.now(),
      message: { mid: `m_IMG${tag}`, attachments: [{ type: 'image', payload: { url: `${fake}/cdn/fb${tag}` } }] } }] }] };
  assert.equal((await metaPost('messenger', fbAtt)).status, 200);
  const fp = await inHistory(owner.token, fbConv.id, (x) => x.file?.mime === 'image/png', 'the Messenger image');
  assert.equal(fp.file.filename, 'photo.png');
  assert.ok((await content(owner.token, fp.file.id)).equals(fbImage));
  // a stranger cannot fetch a contact's file
  const stranger = await user(`chstr_${tag}`);
  assert.equal((await fetch(`${base}/v1/files/${fp.file.id}/content`, { headers: { Authorization: `Bearer ${stranger.token}` } })).status, 404);
}

// ---------------------------------------------------------------- outbound
await fetch(fake + '/_reset', { method: 'POST' });
await sendText(owner.token, igConv.id, 'Hello, Instagram');
const igSent = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.message?.text === 'Hello, Instagram'), 'the Instagram reply');
assert.equal(igSent.channel, 'instagram');
assert.equal(igSent.path, `/v21.0/${process.env.CHAT4ALL_INSTAGRAM_ACCOUNT_ID}/messages`);
assert.equal(igSent.auth, `Bearer ${process.env.CHAT4ALL_INSTAGRAM_TOKEN}`);
assert.deepEqual(igSent.body.recipient, { id: igsid });
const fbReply = await sendText(owner.token, fbConv.id, 'Hello, Messenger');
const fbSent = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.message?.text === 'Hello, Messenger'), 'the Messenger reply');
assert.equal(fbSent.path, `/v21.0/${process.env.CHAT4ALL_MESSENGER_PAGE_ID}/messages`);
assert.equal(fbSent.auth, `Bearer ${process.env.CHAT4ALL_MESSENGER_TOKEN}`);
assert.deepEqual(fbSent.body.recipient, { id: psid });
assert.equal(fbSent.body.messaging_type, 'RESPONSE');
const fbDelivery = await until(async () => (await deliveries(owner.token, fbReply.id)).find((d) => d.status === 'sent'), 'the Messenger delivery');
// Messenger's delivery receipt names the mid
const fbDelivered = { object: 'page', entry: [{ id: process.env.CHAT4ALL_MESSENGER_PAGE_ID, time: Date.now(), messaging: [
  { sender: { id: psid }, recipient: { id: process.env.CHAT4ALL_MESSENGER_PAGE_ID }, delivery: { mids: [fbDelivery.provider_message_id], watermark: Date.now() } }] }] };
assert.equal((await metaPost('messenger', fbDelivered)).status, 200);
await until(async () => (await deliveries(owner.token, fbReply.id))[0].status === 'delivered', 'the Messenger delivery delivered');
// Messenger's windows: 24 h for a reply, 7 days for a human agent's
// (tagged HUMAN_AGENT), then nothing goes (and no request is made)
{
  const psql = (sql) => execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "${sql}"`]);
  const age = (interval) => psql(`UPDATE identities SET last_inbound_at = now() - interval '${interval}' WHERE channel = 'messenger' AND address = '${psid}'`);
  age('2 days');
  await sendText(owner.token, fbConv.id, 'two days later');
  const tagged = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.message?.text === 'two days later'), 'the tagged reply');
  assert.equal(tagged.body.messaging_type, 'MESSAGE_TAG');
  assert.equal(tagged.body.tag, 'HUMAN_AGENT');
  age('8 days');
  const late = await sendText(owner.token, fbConv.id, 'eight days later');
  const refused = await until(async () => (await deliveries(owner.token, late.id)).find((d) => d.status === 'failed'), 'the late reply failed');
  assert.match(refused.last_error, /not written to us in the last 7 days/);
  assert.equal(refused.attempts, 1);
  assert.ok(!(await fakeGet('/_tried')).some((t) => t.body.message?.text === 'eight days later'), 'no request made');
  age('0 seconds');
}
// Messenger's read receipt is a watermark: everything sent before it is read, nothing after
{
  const second = await sendText(owner.token, fbConv.id, 'Second to Messenger');
  await until(async () => (await deliveries(owner.token, second.id)).find((d) => d.status === 'sent'), 'the second Messenger delivery');
  await sleep(20);
  const mark = Date.now();
  await sleep(20);
  const third = await sendText(owner.token, fbConv.id, 'Third to Messenger');
  await until(async () => (await deliveries(owner.token, third.id)).find((d) => d.status === 'sent'), 'the third Messenger delivery');
  const readEvent = { object: 'page', entry: [{ id: process.env.CHAT4ALL_MESSENGER_PAGE_ID, time: Date.now(), messaging: [
    { sender: { id: psid }, recipient: { id: process.env.CHAT4ALL_MESSENGER_PAGE_ID }, timestamp: Date.now(), read: { watermark: mark } }] }] };
  assert.equal((await metaPost('messenger', readEvent)).status, 200);
  await until(async () => (await deliveries(owner.token, second.id))[0].status === 'read', 'the watermark read the second');
  assert.equal((await deliveries(owner.token, fbReply.id))[0].status, 'read');
  assert.equal((await deliveries(owner.token, third.id))[0].status, 'sent', 'sent after the watermark: not read');
}
await fetch(fake + '/_reset', { method: 'POST' });
const reply = await sendText(owner.token, conv.id, 'Sim! Entre 9h e 12h.');
const waSent = await until(async () => (await fakeGet('/_sent')).find((s) => s.channel === 'whatsapp' && s.body.text?.body === 'Sim! Entre 9h e 12h.'), 'the reply at the fake WhatsApp');
assert.equal(waSent.path, `/v21.0/${WA_ID}/messages`);
assert.equal(waSent.auth, `Bearer ${process.env.CHAT4ALL_WHATSAPP_TOKEN}`);
assert.equal(waSent.body.messaging_product, 'whatsapp');
assert.equal(waSent.body.to, phone);
assert.equal(waSent.body.type, 'text');
const d1 = await until(async () => (await deliveries(owner.token, reply.id)).find((d) => d.status === 'sent'), 'the delivery sent');
assert.equal(d1.channel, 'whatsapp');
assert.match(d1.provider_message_id, /^wamid\.FAKE/);

// one recipient gets its messages in order, however many workers send
// (the fake answers after 0–150 ms: requests sent at once would finish shuffled)
await fakeMode('whatsapp', 'jitter');
await Promise.all([1, 2, 3, 4, 5, 6].map((n) => sleep(n * 5).then(() => sendText(owner.token, conv.id, `in order ${n}`))));
await until(async () => (await fakeGet('/_sent')).filter((x) => /^in order \d$/.test(x.body.text?.body || '')).length === 6, 'six ordered messages');
{
  const got = (await fakeGet('/_sent')).filter((x) => /^in order \d$/.test(x.body.text?.body || '')).map((x) => x.body.text.body);
  const seqs = (await history(owner.token, conv.id)).filter((m) => /^in order \d$/.test(m.text)).map((m) => m.text);
  assert.deepEqual(got, seqs, 'the provider got them in the conversation\'s order');
}
await fakeMode('whatsapp', 'ok');

// statuses flow back: delivered, then read (and never back)
const cursor = (await call('GET', '/v1/poll?timeout=0', { token: owner.token })).json.cursor;
assert.equal((await metaPost('whatsapp', waStatus(d1.provider_message_id, 'delivered', phone))).status, 200);
// (two workers may take two webhooks at once: the order of their effects is
// the provider's order only when one has landed before the next is sent)
await until(async () => (await deliveries(owner.token, reply.id))[0].status === 'delivered', 'the delivery delivered');
assert.equal((await metaPost('whatsapp', waStatus(d1.provider_message_id, 'read', phone))).status, 200);
assert.equal((await metaPost('whatsapp', waStatus(d1.provider_message_id, 'delivered', phone))).status, 200);
await until(async () => (await deliveries(owner.token, reply.id))[0].status === 'read', 'the delivery read');
{
  const events = [];
  let c = cursor;
  for (let i = 0; i < 20 && events.length < 2; i++) {
    const p = (await call('GET', `/v1/poll?cursor=${c}&timeout=5`, { token: owner.token })).json;
    c = p.cursor;
    events.push(...p.events.filter((e) => e.event === 'status' && e.data.message_id === reply.id && e.data.channel === 'whatsapp'));
  }
  assert.deepEqual(events.map((e) => e.data.status), ['delivered', 'read']);
  await sleep(500);
  assert.equal((await deliveries(owner.token, reply.id))[0].status, 'read');
  // the contact's horizons moved with it: after a reload the message reads `read` too
  assert.equal((await call('GET', `/v1/messages/${reply.id}`, { token: owner.token })).json.status, 'read');
  assert.equal((await history(owner.token, conv.id)).find((m) => m.id === reply.id).status, 'read');
}

// Telegram says 429, retry_after 2: the retry waits that long
await fakeMode('telegram', '429', { n: 1, retry_after: 2 });
const tgReply = await sendText(owner.token, tgConv.id, 'Hello Ivan');
await until(async () => (await deliveries(owner.token, tgReply.id)).find((d) => d.status === 'sent'), 'the Telegram delivery after its 429');
{
  const tries = (await fakeGet('/_tried')).filter((t) => t.channel === 'telegram' && t.body.text === 'Hello Ivan');
  assert.equal(tries.length, 2);
  assert.equal(tries[0].answer, '429');
  assert.ok(tries[1].at - tries[0].at >= 2000, `retried after ${tries[1].at - tries[0].at} ms, asked 2000`);
  const tgSent = (await fakeGet('/_sent')).find((s) => s.body.text === 'Hello Ivan');
  assert.equal(tgSent.path, `/bot${process.env.CHAT4ALL_TELEGRAM_BOT_TOKEN}/sendMessage`);
  assert.equal(tgSent.body.chat_id, update.message.chat.id);
  const d = (await deliveries(owner.token, tgReply.id))[0];
  assert.equal(d.attempts, 2);
}

// Telegram allows about one message a second to a chat: three at once go
// out paced, in order, and no attempt is spent on the waiting
for (const n of [1, 2, 3]) await sendText(owner.token, tgConv.id, `paced ${n}`);
await until(async () => (await fakeGet('/_sent')).some((s) => s.body.text === 'paced 3'), 'the third paced message');
{
  const sentPaced = (await fakeGet('/_tried')).filter((t) => /^paced \d$/.test(t.body.text || ''));
  assert.deepEqual(sentPaced.map((t) => t.body.text), ['paced 1', 'paced 2', 'paced 3'], 'in order, each once');
  for (let i = 1; i < 3; i++) assert.ok(sentPaced[i].at - sentPaced[i - 1].at >= 900, `gap ${sentPaced[i].at - sentPaced[i - 1].at} ms`);
}

// A channel that hangs holds only its own places: with both of WhatsApp's
// requests in flight hanging (channel_concurrency is 2 here), a third
// WhatsApp delivery waits, while Telegram and in-app delivery go on. When
// the provider answers again, the hung ones time out and are retried.
{
  const phones = [1, 2, 3].map((k) => `55118${k}${String(tag).padStart(7, '0')}`);
  for (const p of phones) assert.equal((await metaPost('whatsapp', waMessage(p, `Hang ${p}`, `wamid.H${p}`, 'hello'))).status, 200);
  const convs = await until(async () => {
    const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
    const found = phones.map((p) => list.find((c) => c.peer?.username === `whatsapp:${p}`));
    return found.every(Boolean) && found;
  }, 'three more WhatsApp contacts');
  await fakeMode('whatsapp', 'hang');
  const stuck = [];
  for (const c of convs) stuck.push(await sendText(owner.token, c.id, 'into a hanging provider'));
  await until(async () => (await fakeGet('/_hanging')).whatsapp === 2, 'two WhatsApp requests hanging');
  const bobConv = (await call('POST', '/v1/conversations', { token: owner.token, body: { type: 'private', members: [bob.id] } })).json;
  const inApp = await sendText(owner.token, bobConv.id, 'in the app, whatever WhatsApp does');
  const tgMsg = await sendText(owner.token, tgConv.id, 'Telegram, whatever WhatsApp does');
  await until(async () => (await history(bob.token, bobConv.id)).some((m) => m.id === inApp.id), 'the in-app message');
  await until(async () => (await deliveries(owner.token, tgMsg.id)).find((d) => d.status === 'sent'), 'the Telegram delivery');
  assert.equal((await fakeGet('/_hanging')).whatsapp, 2, 'while WhatsApp still hangs');
  assert.equal((await fakeGet('/_tried')).filter((t) => t.channel === 'whatsapp' && t.body.text?.body === 'into a hanging provider').length, 2,
    'the third WhatsApp delivery waited for a place');
  await fakeMode('whatsapp', 'ok');
  for (const m of stuck) await until(async () => (await deliveries(owner.token, m.id)).find((d) => d.status === 'sent'), 'the hung deliveries, retried');
  const hung = (await deliveries(owner.token, stuck[0].id))[0];
  assert.ok(hung.attempts >= 1);
}

// a dead channel: the delivery fails with the provider's error after its
// attempts, the sender hears of it, in-app members get the message anyway
const group = (await call('POST', '/v1/conversations', { token: owner.token, body: { type: 'group', title: `mixed ${tag}`, members: [bob.id, contactId] } })).json;
await fakeMode('whatsapp', '500');
const doomed = await sendText(owner.token, group.id, 'to everyone, wherever they are');
const failed = await until(async () => (await deliveries(owner.token, doomed.id)).find((d) => d.status === 'failed'), 'the WhatsApp delivery failed');
assert.equal(failed.attempts, Number(process.env.CHAT4ALL_DELIVERY_MAX_ATTEMPTS));
assert.match(failed.last_error, /unexpected error/);
assert.ok((await history(bob.token, group.id)).some((m) => m.text === 'to everyone, wherever they are'), 'Bob has it in the app');
assert.equal((await call('GET', `/v1/messages/${doomed.id}`, { token: owner.token })).json.status, 'sent', 'Bob got it: not failed');
// to a contact alone, a message every attempt failed for is `failed`
const lost = await sendText(owner.token, conv.id, 'into the void');
await until(async () => (await call('GET', `/v1/messages/${lost.id}`, { token: owner.token })).json.status === 'failed', 'the message failed');
await fakeMode('whatsapp', 'ok');
// an admin retries the dead delivery: it is really sent this time (before,
// the row stayed `failed` and the deliverer dropped the job unsent)
{
  const admin = await user(`chadm_${tag}`);
  execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['promote', `chadm_${tag}`], { stdio: 'ignore' });
  const deliveryId = execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "SELECT id FROM deliveries WHERE message_id = '${lost.id}'"`]).toString().trim();
  const dead = (await call('GET', '/v1/admin/jobs/dead?limit=100', { token: admin.token })).json.items
    .find((j) => j.kind === 'deliver' && String(j.payload.delivery_id) === deliveryId);
  assert.ok(dead, `the dead delivery job of delivery ${deliveryId}`);
  assert.equal((await call('POST', `/v1/admin/jobs/dead/${dead.id}/retry`, { token: admin.token })).status, 202);
  await until(async () => (await fakeGet('/_sent')).some((x) => x.body.text?.body === 'into the void'), 'the retried delivery at WhatsApp');
  await until(async () => (await deliveries(owner.token, lost.id))[0].status === 'sent', 'the delivery sent');
  assert.equal((await call('GET', `/v1/messages/${lost.id}`, { token: owner.token })).json.status, 'sent');
}

// a channel-only message goes nowhere else; Bob links Telegram and is reached there too
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'fax', address: '1' } })).status, 400);
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'whatsapp', address: '+55 11' } })).status, 400);
const bobChat = 5100000 + (tag % 1000);
await link(bob, 'telegram', bobChat);
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'telegram', address: String(bobChat) } })).status, 409, 'linked already');
assert.deepEqual((await call('GET', '/v1/me/identities', { token: bob.token })).json.items.map((i) => [i.address, i.status]), [[String(bobChat), 'verified']]);
await fetch(fake + '/_reset', { method: 'POST' });
const tgOnly = await sendText(owner.token, group.id, 'telegram only, please', { channels: ['telegram'] });
await until(async () => (await fakeGet('/_sent')).some((s) => s.body.text === 'telegram only, please'), 'the Telegram-only message at Bob\'s chat');
await sleep(1500);
{
  const got = (await fakeGet('/_tried')).filter((t) => JSON.stringify(t.body).includes('telegram only, please'));
  assert.deepEqual(got.map((t) => [t.channel, t.body.chat_id]), [['telegram', bobChat]], 'no WhatsApp copy, no one else');
  const ds = await deliveries(owner.token, tgOnly.id);
  assert.deepEqual(ds.map((d) => d.channel), ['telegram']);
}
assert.equal((await call('POST', `/v1/conversations/${group.id}/messages`, { token: owner.token, body: { client_id: `bad-${tag}`, text: 'x', channels: ['fax'] } })).status, 400);

// WhatsApp's 24-hour window: Bob linked a number that never wrote to us,
// so a message goes to it as the configured template ({{1}} sender, {{2}}
// text); Maria wrote minutes ago, so hers stays free-form
{
  const bobPhone = `55117${String(tag).padStart(8, '0')}`;
  await link(bob, 'whatsapp', bobPhone);	// (the code itself went as the template: the window is closed)
  const closed = await sendText(owner.token, group.id, 'the window is closed\nfor Bob', { channels: ['whatsapp'] });
  const tpl = await until(async () => (await sentTo(bobPhone)).find((x) => JSON.stringify(x.body).includes('the window is closed')), 'the template to Bob\'s WhatsApp');
  assert.equal(tpl.body.type, 'template');
  assert.equal(tpl.body.template.name, 'chat4all_new_message');
  assert.equal(tpl.body.template.language.code, 'pt_BR');
  assert.deepEqual(tpl.body.template.components[0].parameters.map((p) => p.text), [OWNER, 'the window is closed for Bob']);
  const toMaria = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.to === phone && x.body.text?.body?.startsWith('the window is closed')), 'Maria\'s copy');
  assert.equal(toMaria.body.type, 'text');
  await until(async () => (await deliveries(owner.token, closed.id)).filter((d) => d.status === 'sent').length === 2, 'both sent');
  assert.equal((await call('DELETE', `/v1/me/identities?channel=whatsapp&address=${bobPhone}`, { token: bob.token })).status, 204);
}

// an integrator's webhook: the message as JSON, signed over "<t>.<raw body>"
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'webhook', address: 'ftp://nope' } })).status, 400);
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'webhook', address: `${fake}/hook/bob-${tag}` } })).status, 403, 'only admins register webhooks');
execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['promote', `chbob_${tag}`], { stdio: 'ignore' });
assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'webhook', address: `${fake}/hook/bob-${tag}` } })).status, 201);
const hooked = await sendText(owner.token, group.id, 'for the integration', { channels: ['webhook'] });
const hook = await until(async () => (await fakeGet('/_sent')).find((s) => s.channel === 'webhook' && s.body.message_id === hooked.id), 'the signed webhook POST');
{
  const [, t, v1] = hook.signature.match(/^t=(\d+),v1=([0-9a-f]{64})$/) || [];
  assert.ok(t && v1, `signature header: ${hook.signature}`);
  assert.equal(v1, createHmac('sha256', process.env.CHAT4ALL_WEBHOOK_SIGNING_SECRET).update(`${t}.${hook.raw}`).digest('hex'));
  assert.ok(Math.abs(Date.now() / 1000 - Number(t)) < 60);
  assert.equal(hook.body.text, 'for the integration');
  assert.equal(hook.body.conversation_id, group.id);
  assert.equal(hook.body.sender_id, owner.id);
}
// Our own requests never reach what a stranger points them at inside:
// an admin's webhook URL or a media URL in a provider's payload naming a
// loopback service (by name: checked after DNS resolution), the cloud's
// metadata address, … are refused before connecting, once and for good,
// and what such a service would answer is never shown. (Before, the
// deliverer posted to them and put their answer in last_error.)
{
  const hits = [];
  const trap = createServer((req, res) => { hits.push(req.url); res.writeHead(400, { 'Content-Type': 'application/json' }); res.end('{"error":{"message":"internal secret"}}'); });
  await new Promise((r) => trap.listen(0, '127.0.0.1', r));
  const inside = `http://localhost:${trap.address().port}/internal-${tag}`;
  const metadata = `http://169.254.169.254/latest/meta-data/${tag}`;
  for (const address of [inside, metadata])
    assert.equal((await call('POST', '/v1/me/identities', { token: bob.token, body: { channel: 'webhook', address } })).status, 201);
  const probe = await sendText(owner.token, group.id, 'where does this go', { channels: ['webhook'] });
  const failedTo = async (address) => ((await deliveries(bob.token, probe.id)) || []).find((d) => d.address === address && d.status === 'failed');
  const a = await until(() => failedTo(inside), 'the loopback webhook refused');
  assert.match(a.last_error, /refused to connect: (127\.0\.0\.1|::1) is a loopback address/);
  assert.equal(a.attempts, 1, 'never retried');
  const b = await until(() => failedTo(metadata), 'the metadata address refused');
  assert.match(b.last_error, /169\.254\.169\.254 is a link-local address/);
  // a Messenger attachment whose URL points inside
  const fbInside = { object: 'page', entry: [{ id: process.env.CHAT4ALL_MESSENGER_PAGE_ID, time: Date.now(), messaging: [
    { sender: { id: psid }, recipient: { id: process.env.CHAT4ALL_MESSENGER_PAGE_ID }, timestamp: Date.now(),
      message: { mid: `m_SSRF${tag}`, attachments: [{ type: 'image', payload: { url: `http://127.0.0.1:${trap.address().port}/secret.png` } }] } }] }] };
  assert.equal((await metaPost('messenger', fbInside)).status, 200);
  const note = await until(async () => (await history(owner.token, fbConv.id)).find((x) => /could not be received/.test(x.text || '') && /loopback/.test(x.text)), 'the attachment refused, as a note');
  assert.equal(note.file, null);
  assert.deepEqual(hits, [], 'nothing inside was reached');
  trap.close();
  for (const address of [inside, metadata])
    assert.equal((await call('DELETE', `/v1/me/identities?channel=webhook&address=${encodeURIComponent(address)}`, { token: bob.token })).status, 204);
}

// a stranger sees no deliveries of it
const stranger = await user(`chx_${tag}`);
assert.equal((await call('GET', `/v1/messages/${tgOnly.id}/deliveries`, { token: stranger.token })).status, 404);

// ---------------------------------------------------------------- who may claim what
// Mallory asks to link a number that is not hers (a customer who has not
// written yet): she gets a pending claim, the code goes to that number,
// and without it nothing is hers: the customer's messages arrive as the
// customer's, and nothing sent to Mallory reaches that number. Before, the
// link answered 201 at once and the number's messages arrived as hers.
{
  const mallory = await user(`chmal_${tag}`);
  const victim = `55113${String(tag).padStart(8, '0')}`;
  const ask = await call('POST', '/v1/me/identities', { token: mallory.token, body: { channel: 'whatsapp', address: victim } });
  assert.equal(ask.status, 202, ask.text);
  assert.equal(ask.json.status, 'pending');
  const code = await codeAt(victim);	// at the victim's phone, not Mallory's
  const wrong = code === '000000' ? '000001' : '000000';
  for (let i = 0; i < 4; i++) {
    const r = await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { token: mallory.token, body: { code: wrong } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.errors[0].field, 'code');
  }
  assert.equal((await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { token: mallory.token, body: { code: wrong } })).status, 429, 'five wrong codes end the claim');
  assert.equal((await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { token: mallory.token, body: { code } })).status, 429, 'even the right one, after that');
  assert.equal((await call('POST', '/v1/me/identities/whatsapp/0123/verify', { token: mallory.token, body: { code } })).status, 404);
  // what a verify is not: another channel's name, no address, not six digits, not JSON
  assert.equal((await call('POST', `/v1/me/identities/fax/${victim}/verify`, { token: mallory.token, body: { code } })).status, 404);
  assert.equal((await call('POST', `/v1/me/identities/webhook/${victim}/verify`, { token: mallory.token, body: { code } })).status, 404);
  assert.equal((await call('POST', '/v1/me/identities/whatsapp//verify', { token: mallory.token, body: { code } })).status, 404);
  for (const bad of [{}, { code: '12345' }, { code: '12345a' }, { code: 123456 }, { code: '1234567' }]) {
    const r = await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { token: mallory.token, body: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.json.errors[0].field, 'code');
  }
  assert.equal((await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { token: mallory.token, raw: 'code=123456', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).status, 415);
  assert.equal((await call('POST', `/v1/me/identities/whatsapp/${victim}/verify`, { body: { code } })).status, 401);
  assert.deepEqual((await call('GET', '/v1/me/identities', { token: mallory.token })).json.items.map((i) => [i.address, i.status]), [[victim, 'pending']]);
  // the customer writes: the message is the customer's, in the business's inbox
  assert.equal((await metaPost('whatsapp', waMessage(victim, 'Real Owner', `wamid.VIC${tag}`, 'this is my number'))).status, 200);
  const vconv = await until(async () => (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items
    .find((c) => c.peer?.username === `whatsapp:${victim}`), 'the customer\'s own conversation');
  // the conversation is made with the message, which the owner sees once it is released
  const first = await until(async () => (await history(owner.token, vconv.id)).pop(), 'the customer\'s message, released');
  assert.equal(first.text, 'this is my number');
  assert.equal((await call('GET', '/v1/conversations?limit=100', { token: mallory.token })).json.items.length, 0, 'nothing of it is Mallory\'s');
  // what is sent to Mallory goes nowhere near that number
  const mconv = (await call('POST', '/v1/conversations', { token: owner.token, body: { type: 'private', members: [mallory.id] } })).json;
  const toMallory = await sendText(owner.token, mconv.id, 'for mallory only');
  await sleep(1000);
  assert.equal((await sentTo(victim)).some((x) => JSON.stringify(x.body).includes('for mallory only')), false);
  assert.deepEqual(await deliveries(owner.token, toMallory.id), []);
  // and she cannot flood the number with codes
  let limited = false;
  for (let i = 0; i < 5 && !limited; i++)
    limited = (await call('POST', '/v1/me/identities', { token: mallory.token, body: { channel: 'whatsapp', address: victim } })).status === 429;
  assert.ok(limited, 'codes to one address are limited');
  // the customer signs up and proves the number (reads the code on it):
  // the address is a person's now, and its messages arrive as theirs
  const real = await user(`chreal_${tag}`);
  await fetch(fake + '/_reset', { method: 'POST' });
  const before = (await sentTo(victim)).length;
  assert.equal((await call('POST', '/v1/me/identities', { token: real.token, body: { channel: 'whatsapp', address: victim } })).status, 429, 'still limited for this address');
  execFileSync(process.env.CHAT4ALL_TEST_REDIS_CLI.split(' ')[0], [...process.env.CHAT4ALL_TEST_REDIS_CLI.split(' ').slice(1), 'DEL', `c4a:rl:code:to:whatsapp:${victim}`], { stdio: 'ignore' });
  assert.equal(before, 0);
  await link(real, 'whatsapp', victim);
  assert.equal((await metaPost('whatsapp', waMessage(victim, 'Real Owner', `wamid.VIC2${tag}`, 'now as myself'))).status, 200);
  await until(async () => (await call('GET', '/v1/conversations?limit=100', { token: real.token })).json.items
    .some((c) => c.last_message?.text === 'now as myself'), 'the number\'s message, as the person who proved it');
}

// a customer is no one's to find or to add: user search lists people only,
// and only the agents of a contact's inbox may put it in a conversation
{
  const search = async (q) => (await call('GET', `/v1/users?q=${encodeURIComponent(q)}&limit=100`, { token: stranger.token })).json.items;
  assert.deepEqual((await search('whatsapp')).filter((u) => u.username.includes(':')), []);
  assert.deepEqual(await search('Maria'), []);
  assert.ok((await search(`chbob_${tag}`)).length === 1, 'people are still found');
  const priv = await call('POST', '/v1/conversations', { token: stranger.token, body: { type: 'private', members: [contactId] } });
  assert.equal(priv.status, 400, priv.text);
  assert.equal(priv.json.errors[0].field, 'members');
  const grp = await call('POST', '/v1/conversations', { token: stranger.token, body: { type: 'group', title: 'reach out', members: [bob.id, contactId] } });
  assert.equal(grp.status, 400);
  const own = (await call('POST', '/v1/conversations', { token: stranger.token, body: { type: 'group', title: 'mine', members: [bob.id] } })).json;
  const add = await call('POST', `/v1/conversations/${own.id}/members`, { token: stranger.token, body: { user_id: contactId } });
  assert.equal(add.status, 400);
  // the business's agent may (it is in the contact's inbox)
  assert.equal((await call('POST', '/v1/conversations', { token: owner.token, body: { type: 'group', title: `agent's ${tag}`, members: [contactId] } })).status, 201);
}

// where a message went: a person's address for that person and admins;
// other members see the channel and the status
{
  const stranger2 = await user(`chy_${tag}`);
  const g = (await call('POST', '/v1/conversations', { token: owner.token, body: { type: 'group', title: `where ${tag}`, members: [bob.id, stranger2.id] } })).json;
  const m = await sendText(owner.token, g.id, 'who sees where', { channels: ['telegram'] });
  await until(async () => (await deliveries(owner.token, m.id)).some((d) => d.status === 'sent'), 'the Telegram delivery');
  const seenBy = async (who) => (await deliveries(who.token, m.id)).find((d) => d.channel === 'telegram');
  assert.equal((await seenBy(stranger2)).address, null, 'another member does not see Bob\'s chat');
  assert.equal((await seenBy(stranger2)).last_error, null);
  assert.equal((await seenBy(owner)).address, null, 'nor does the sender');
  assert.equal((await seenBy(bob)).address, String(bobChat), 'Bob sees his own');
  assert.equal((await seenBy(stranger2)).status, 'sent');
}
assert.equal((await call('DELETE', `/v1/me/identities?channel=telegram&address=${bobChat}`, { token: bob.token })).status, 204);
assert.equal((await call('DELETE', `/v1/me/identities?channel=telegram&address=${bobChat}`, { token: bob.token })).status, 404);
assert.equal((await call('DELETE', '/v1/me/identities', { token: bob.token })).status, 400);
// a signed body that is not JSON: 400, nothing queued
{
  const raw = 'not json';
  const sig = 'sha256=' + createHmac('sha256', APP_SECRET).update(raw).digest('hex');
  const r = await call('POST', '/v1/webhooks/whatsapp', { raw, headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': sig } });
  assert.equal(r.status, 400);
  assert.equal(r.json.type, '/problems/invalid-json');
}

// /metrics counts what the workers sent, retried, failed and paced, per channel
{
  const m = await (await fetch(base + '/metrics')).text();
  const count = (labels) => Number((m.match(new RegExp(`^chat4all_channel_deliveries_total\\{${labels}\\} (\\d+)$`, 'm')) || [])[1] || 0);
  assert.ok(count('channel="whatsapp",outcome="sent"') >= 1, 'whatsapp sent');
  assert.ok(count('channel="whatsapp",outcome="retried"') >= 2, 'whatsapp retried');
  assert.ok(count('channel="whatsapp",outcome="failed"') >= 1, 'whatsapp failed');
  assert.ok(count('channel="telegram",outcome="paced"') >= 1, 'telegram paced');
  assert.match(m, /chat4all_channel_request_seconds_bucket\{channel="telegram",outcome="sent",le="\+Inf"\}/);
  if (process.env.CHAT4ALL_BUS === 'kafka') {
    // every delivery above came as a record of <prefix>deliveries, and those
    // whose address was busy (in order, the hanging provider, pacing)
    // waited in the table's per-address queue instead of holding the partition
    const bus = (what) => Number((m.match(new RegExp(`^chat4all_bus_total\\{what="${what}"\\} (\\d+)$`, 'm')) || [])[1] || 0);
    assert.ok(bus('handed_over') >= 1, 'deliveries handed over to the table');
    assert.match(m, /^chat4all_bus_consumer_lag\{group="[^"]*deliver",topic="[^"]*deliveries",partition="0"\} \d+$/m);
  }
}

console.log('channels: WhatsApp, Telegram, Messenger and Instagram in (signatures, duplicates, photos and documents fetched, a location, media gone) and out (bodies, tokens, order per recipient, 429 Retry-After, per-chat pacing, a dead channel failing with in-app delivery intact, channel-only messages), statuses delivered → read and the Messenger read watermark, identities, the signed integrator webhook, metrics');
