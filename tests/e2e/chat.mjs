// The web UI end to end, in headless Chromium (Debian's chromium driven by
// playwright-core) against the real stack the harness started: Alice and
// Bob, each in a browser context of their own, sign up, find each other,
// chat live, watch the ticks go delivered → read, see each other type,
// send a picture and download it on the other side; a moderated word is
// rejected for the sender only; an XSS payload stays text; an admin
// approves a held message. Screenshots of the main views go to E2E_OUT.
//
//   CHAT4ALL_TEST_URL=http://127.0.0.1:8080 CHAT4ALL_TEST_ADMIN=tools/chat4all-admin \
//   CHAT4ALL_TEST_STACK=tools/stack.sh VAR=… node tests/e2e/chat.mjs
// (tools/test.sh sets these; the instance must hold "sexual" for review)
import assert from 'node:assert/strict';
import { execFileSync, execSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const base = process.env.CHAT4ALL_TEST_URL;
const out = process.env.E2E_OUT || 'build/e2e';
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(base, 'set CHAT4ALL_TEST_URL');
mkdirSync(out, { recursive: true });

const tag = (Date.now() % 1e6).toString(36);
const alice = { username: `alice_${tag}`, name: 'Alice Martin', password: 'alice password' };
const bob = { username: `bob_${tag}`, name: 'Bob Silva', password: 'bob password' };
const WAIT = { timeout: 15000 };

// A real PNG (a 64×64 gradient), made here: no fixture files.
function png(w = 64, h = 64) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < h; y++) {
    rows.push(0);
    for (let x = 0; x < w; x++) rows.push(59 + x * 2, 91 + y, 219);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Over https with the instance's own self-signed certificate
// (CHAT4ALL_TEST_CA): Chromium trusts that one key and nothing else.
const args = ['--no-sandbox'];
if (process.env.CHAT4ALL_TEST_CA) {
  const key = new X509Certificate(readFileSync(process.env.CHAT4ALL_TEST_CA)).publicKey;
  const spki = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('base64');
  args.push(`--ignore-certificate-errors-spki-list=${spki}`);
}
const browser = await chromium.launch({ executablePath: chromiumPath, args });
const errors = [];

async function person(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${e.message}`));
  page.on('console', (m) => { if (process.env.E2E_DEBUG) console.log(viewport.width, m.text()); });
  return { context, page };
}

async function signUp(page, who, shot) {
  await page.goto(base);
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Display name (optional)').fill(who.name);
  await page.getByLabel('Password').fill(who.password);
  if (shot) await page.screenshot({ path: `${out}/01-sign-up.png` });
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor(WAIT);
}

const msgs = (page, side) => page.locator(`#messages .msg.${side}`);

try {
  const A = await person();
  const B = await person();
  await signUp(A.page, alice, true);
  await signUp(B.page, bob);

  // Alice finds Bob and writes before he opens the conversation
  await A.page.getByLabel('Find people by name').fill(bob.username);
  await A.page.getByRole('button', { name: `Chat with ${bob.name}` }).click();
  await A.page.getByLabel('Write a message').fill('Hello Bob 👋');
  await A.page.keyboard.press('Enter');
  const first = msgs(A.page, 'mine').filter({ hasText: 'Hello Bob' });
  // Bob's browser got it live (his list shows it): delivered, not read
  await B.page.locator('.conv-preview', { hasText: 'Hello Bob' }).waitFor(WAIT);
  await first.locator('.tick.delivered').waitFor(WAIT);
  assert.equal(await B.page.locator('.badge').innerText(), '1', 'one unread for Bob');
  await A.page.screenshot({ path: `${out}/02-delivered.png` });

  // Bob opens it: it is on his screen, so it is read
  await B.page.getByRole('button', { name: new RegExp(alice.name) }).click();
  await msgs(B.page, 'theirs').filter({ hasText: 'Hello Bob 👋' }).waitFor(WAIT);
  await first.locator('.tick.read').waitFor(WAIT);

  // Bob types, Alice sees it; Bob answers, live
  await B.page.getByLabel('Write a message').pressSequentially('Hi Al', { delay: 30 });
  await A.page.locator('#typing', { hasText: `${bob.name} is typing` }).waitFor(WAIT);
  await B.page.getByLabel('Write a message').pressSequentially('ice! Lunch at noon?');
  await B.page.keyboard.press('Enter');
  await msgs(A.page, 'theirs').filter({ hasText: 'Hi Alice! Lunch at noon?' }).waitFor(WAIT);

  // markup in a message is text, and runs nothing
  const xss = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  await A.page.getByLabel('Write a message').fill(xss);
  await A.page.keyboard.press('Enter');
  await msgs(B.page, 'theirs').filter({ hasText: '<img src=x onerror' }).waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').last().locator('.text').innerText(), xss);
  assert.equal(await B.page.evaluate(() => window.__xss), undefined);
  assert.equal(await A.page.evaluate(() => window.__xss), undefined);
  assert.equal(await B.page.locator('#messages img:not(.preview)').count(), 0);

  // a moderated word: rejected for Alice, with the reason; Bob never sees it
  await A.page.getByLabel('Write a message').fill('you idiot');
  await A.page.keyboard.press('Enter');
  await msgs(A.page, 'mine').filter({ hasText: 'you idiot' }).locator('.reason').waitFor(WAIT);
  assert.match(await msgs(A.page, 'mine').filter({ hasText: 'you idiot' }).locator('.reason').innerText(), /Not delivered: harassment/);
  await A.page.getByLabel('Write a message').fill('sorry, wrong chat');
  await A.page.keyboard.press('Enter');
  await msgs(B.page, 'theirs').filter({ hasText: 'sorry, wrong chat' }).waitFor(WAIT);
  assert.equal(await B.page.locator('#messages').getByText('idiot').count(), 0);

  // a picture: uploaded with tus (progress bar), previewed and downloaded by Bob
  const picture = png();
  await A.page.locator('#file-input').setInputFiles({ name: 'lunch spot.png', mimeType: 'image/png', buffer: picture });
  const img = msgs(B.page, 'theirs').locator('img.preview');
  await img.waitFor(WAIT);
  await B.page.waitForFunction(() => [...document.querySelectorAll('img.preview')].every((i) => i.complete && i.naturalWidth === 64), null, WAIT);
  const [download] = await Promise.all([
    B.page.waitForEvent('download', WAIT),
    msgs(B.page, 'theirs').locator('a.download').last().click(),
  ]);
  assert.equal(download.suggestedFilename(), 'lunch spot.png');
  assert.ok(readFileSync(await download.path()).equals(picture), 'Bob downloads the very bytes Alice sent');
  await A.page.screenshot({ path: `${out}/03-chat-alice.png` });
  await B.page.screenshot({ path: `${out}/04-chat-bob.png` });

  // Bob's stream breaks (the gateway goes down); what he missed arrives,
  // once each, when it is back
  const streamPid = readFileSync(`${process.env.VAR}/run/stream.pid`, 'utf8').trim();
  execFileSync('kill', [streamPid]);
  await B.page.locator('#conn.reconnecting').waitFor(WAIT);
  for (const text of ['while you were away (1)', 'while you were away (2)']) {
    await A.page.getByLabel('Write a message').fill(text);
    await A.page.keyboard.press('Enter');
    await msgs(A.page, 'mine').filter({ hasText: text }).locator('.tick.pending').waitFor(WAIT);	// accepted
  }
  execFileSync(process.env.CHAT4ALL_TEST_STACK, ['start'], { stdio: 'ignore' });
  await msgs(B.page, 'theirs').filter({ hasText: 'while you were away (2)' }).waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').filter({ hasText: 'while you were away' }).count(), 2);
  await msgs(A.page, 'mine').filter({ hasText: 'while you were away (2)' }).locator('.tick.delivered, .tick.read').waitFor(WAIT);

  // Alice's send fails on a dead line: marked, retried by hand, sent once
  await A.context.setOffline(true);
  await A.page.getByLabel('Write a message').fill('sent over a bad line');
  await A.page.keyboard.press('Enter');
  const retry = A.page.getByRole('button', { name: 'Not sent — retry' });
  await retry.waitFor(WAIT);
  await A.context.setOffline(false);
  await retry.click();
  await msgs(B.page, 'theirs').filter({ hasText: 'sent over a bad line' }).waitFor(WAIT);
  await msgs(A.page, 'mine').filter({ hasText: 'sent over a bad line' }).locator('.tick.sent, .tick.delivered, .tick.read').waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').filter({ hasText: 'sent over a bad line' }).count(), 1);

  // a group, made in the UI
  await A.page.getByRole('button', { name: 'New group' }).click();
  await A.page.getByLabel('Group name').fill('Lunch crew');
  await A.page.getByLabel('Add people').fill(bob.username);
  await A.page.locator('dialog .person').first().click();
  await A.page.getByRole('button', { name: 'Create group' }).click();
  await A.page.locator('.chat-title h2', { hasText: 'Lunch crew' }).waitFor(WAIT);
  await A.page.getByLabel('Write a message').fill('Who is in for Friday?');
  await A.page.keyboard.press('Enter');
  await B.page.getByRole('button', { name: /Lunch crew/ }).click();
  await msgs(B.page, 'theirs').filter({ hasText: 'Who is in for Friday?' }).waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').filter({ hasText: 'Who is in for Friday?' }).locator('.author').innerText(), alice.name);
  await B.page.screenshot({ path: `${out}/05-group-bob.png` });

  // a long history pages in upward as Bob scrolls to the top
  const api = async (path, init = {}) => (await fetch(base + path, init)).json();
  const login = await api('/v1/auth/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: alice.username, password: alice.password }),
  });
  const auth = { Authorization: `Bearer ${login.access_token}`, 'Content-Type': 'application/json' };
  const bobId = (await api(`/v1/users?q=${bob.username}`, { headers: auth })).items[0].id;
  const archive = await api('/v1/conversations', {
    method: 'POST', headers: auth, body: JSON.stringify({ type: 'group', title: 'Archive', members: [bobId] }),
  });
  const aliceId = (await api('/v1/me', { headers: auth })).id;
  execSync(`${process.env.CHAT4ALL_TEST_PSQL} -c "INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, text, status, created_at)
    SELECT gen_random_uuid(), '${archive.id}', g, '${aliceId}', 'archive-' || g, 'archived message ' || g, 'sent',
           now() - interval '1 hour' + g * interval '1 second' FROM generate_series(1, 120) g;
    UPDATE conversations SET last_seq = 120, last_activity = now() WHERE id = '${archive.id}';
    UPDATE release_watermarks SET released_seq = 120 WHERE conversation_id = '${archive.id}'"`);
  await B.page.reload();
  await B.page.getByRole('button', { name: /Archive/ }).click();
  await msgs(B.page, 'theirs').filter({ hasText: 'archived message 120' }).waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').count(), 50, 'the newest page first');
  const beginning = B.page.locator('.day', { hasText: 'The beginning of this conversation' });
  for (let i = 0; i < 10 && !(await beginning.count()); i++) {
    await B.page.locator('#messages').evaluate((list) => { list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); });
    await B.page.waitForTimeout(300);
  }
  await beginning.waitFor(WAIT);
  assert.equal(await msgs(B.page, 'theirs').count(), 120, 'every message, once');
  assert.equal(await msgs(B.page, 'theirs').first().locator('.text').innerText(), 'archived message 1');

  // Alice's conversation list on a phone
  const P = await person({ width: 390, height: 844 });
  await P.page.goto(base);
  await P.page.getByLabel('Username').fill(alice.username);
  await P.page.getByLabel('Password').fill(alice.password);
  await P.page.getByRole('button', { name: 'Sign in' }).click();
  await P.page.locator('.conv').first().waitFor(WAIT);
  await P.page.screenshot({ path: `${out}/06-phone-list.png` });
  await P.page.getByRole('button', { name: new RegExp(bob.name) }).click();
  await msgs(P.page, 'theirs').first().waitFor(WAIT);
  await P.page.screenshot({ path: `${out}/07-phone-chat.png` });

  // the admin's review: a held message, approved, reaches Bob
  execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['promote', alice.username], { stdio: 'ignore' });
  await B.page.getByLabel('Write a message').fill('look at these nudes of the beach');
  await B.page.keyboard.press('Enter');
  await msgs(B.page, 'mine').filter({ hasText: 'nudes' }).locator('.tick.held').waitFor(WAIT);
  await A.page.reload();
  await A.page.getByRole('button', { name: 'Review' }).click();
  const held = A.page.locator('.review-item', { hasText: 'nudes of the beach' });
  await held.waitFor(WAIT);
  await A.page.screenshot({ path: `${out}/08-admin-review.png` });
  await held.getByRole('button', { name: 'Approve' }).click();
  await msgs(B.page, 'mine').filter({ hasText: 'nudes' }).locator('.tick.sent, .tick.delivered, .tick.read').waitFor(WAIT);

  // a WhatsApp contact writes in (a signed webhook, with a photo the fake
  // provider holds): the channel's owner sees the conversation appear live,
  // the photo previewed, and answers; the answer reaches WhatsApp
  if (process.env.FAKE_URL && process.env.CHAT4ALL_META_APP_SECRET) {
    const fake = process.env.FAKE_URL;
    const owner = process.env.CHAT4ALL_CHANNEL_OWNER || 'support';
    const pw = 'channels password';	// as tests/channels made it, if it ran first
    await fetch(`${base}/v1/auth/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: owner, password: pw }) });
    execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['agent', owner], { stdio: 'ignore' });	// only an admin makes an agent
    const S = await person();
    await S.page.goto(base);
    await S.page.getByLabel('Username').fill(owner);
    await S.page.getByLabel('Password').fill(pw);
    await S.page.getByRole('button', { name: 'Sign in' }).click();
    await S.page.getByRole('status').filter({ hasText: 'live' }).waitFor(WAIT);
    const phone = `55115${String(Date.now() % 1e8).padStart(8, '0')}`;
    const mediaId = String(Date.now());
    await fetch(`${fake}/_media`, { method: 'POST', body: JSON.stringify({ id: mediaId, mime: 'image/png', b64: picture.toString('base64') }) });
    const hook = (id, message) => {
      const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp', metadata: { phone_number_id: process.env.CHAT4ALL_WHATSAPP_PHONE_NUMBER_ID },
        contacts: [{ profile: { name: 'Maria Web' }, wa_id: phone }],
        messages: [{ from: phone, id, timestamp: String(Math.floor(Date.now() / 1000)), ...message }] } }] }] });
      const sig = 'sha256=' + createHmac('sha256', process.env.CHAT4ALL_META_APP_SECRET).update(raw).digest('hex');
      return fetch(`${base}/v1/webhooks/whatsapp`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': sig }, body: raw });
    };
    assert.equal((await hook(`wamid.E2E${mediaId}a`, { type: 'text', text: { body: 'Oi! Do you deliver on Sundays?' } })).status, 200);
    assert.equal((await hook(`wamid.E2E${mediaId}b`, { type: 'image', image: { id: mediaId, mime_type: 'image/png', caption: 'this one' } })).status, 200);
    await S.page.getByRole('button', { name: /Maria Web/ }).click();
    await S.page.locator('#typing', { hasText: `on WhatsApp · ${phone}` }).waitFor(WAIT);
    await msgs(S.page, 'theirs').filter({ hasText: 'Do you deliver on Sundays?' }).waitFor(WAIT);
    await msgs(S.page, 'theirs').filter({ hasText: 'this one' }).locator('img.preview').waitFor(WAIT);
    await S.page.waitForFunction(() => [...document.querySelectorAll('img.preview')].every((i) => i.complete && i.naturalWidth === 64), null, WAIT);
    await S.page.getByLabel('Write a message').fill('Yes, from 9 to 12!');
    await S.page.keyboard.press('Enter');
    for (let i = 0; i < 150; i++) {
      const sent = await (await fetch(`${fake}/_sent`)).json();
      if (sent.some((x) => x.body.to === phone && x.body.text?.body === 'Yes, from 9 to 12!')) break;
      assert.ok(i < 149, 'the answer reached WhatsApp');
      await new Promise((r) => setTimeout(r, 100));
    }
    await S.page.screenshot({ path: `${out}/09-whatsapp-contact.png` });
    await S.context.close();
  } else {
    console.log('SKIPPED the WhatsApp conversation: no fake provider (tools/test.sh starts one)');
  }

  // signing out ends the sign-in: a reload does not bring it back
  await B.page.getByRole('button', { name: 'Sign out' }).click();
  await B.page.getByText('You are signed out.').waitFor(WAIT);
  assert.equal(await B.page.evaluate(() => localStorage.getItem('chat4all.refresh')), null);
  await B.page.reload();
  await B.page.getByRole('button', { name: 'Sign in' }).waitFor(WAIT);

  assert.deepEqual(errors, [], 'no script errors in the pages');
  console.log(`web UI end to end: sign-up, live chat, delivered → read, typing, XSS as text, rejection for the sender only, picture up and down, resume after a dropped stream, retry of a failed send, a group, 120 messages paged in upward, phone view, admin review, a WhatsApp contact's text and photo answered from the browser, sign-out; screenshots in ${out}`);
} finally {
  await browser.close();
}
