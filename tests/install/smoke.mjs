// What a user of an installed host does first (tests/install/units.sh runs
// it against `make install`'s units, started without systemd): the web UI
// loads, two people sign up and sign in, one writes, the other hears it live
// on the stream, the message is moderated and released (chat4all-worker),
// the reader's receipt comes back to the writer as "read", and a file
// goes up (tus) and down.
// CHAT4ALL_TEST_URL: the installed host's address.
import assert from 'node:assert/strict';
import { base, tag, call, until, listen } from '../api.mjs';

async function person(name) {
  const creds = { username: name, password: 'installed host' };
  const reg = await call('POST', '/v1/auth/register', { body: creds });
  assert.equal(reg.status, 201, `sign-up of ${name}: ${reg.text}`);
  const t = await call('POST', '/v1/auth/token', { body: creds });
  assert.equal(t.status, 200, `sign-in of ${name}: ${t.text}`);
  return { token: t.json.access_token, id: reg.json.id };
}

const page = await fetch(`${base}/`);
assert.equal(page.status, 200);
assert.match(await page.text(), /<html/i, 'the web UI is served');

const ann = await person(`inst_a_${tag}`);
const bob = await person(`inst_b_${tag}`);
const c = await call('POST', '/v1/conversations', { token: ann.token, body: { type: 'private', members: [bob.id] } });
assert.equal(c.status, 201, c.text);
const conv = c.json.id;

// bob listens (through lighttpd to the stream gateway)
const stream = await listen(bob.token);
await until(() => stream.heard().length > 0, 'the stream opening');

const s = await call('POST', `/v1/conversations/${conv}/messages`, { token: ann.token, body: { client_id: `inst-${tag}`, text: 'hello from an installed host' } });
assert.equal(s.status, 202, s.text);
const id = s.json.id;
await until(() => stream.heard().includes(id), 'the message on bob\'s stream');
await until(async () => ['sent', 'delivered', 'read'].includes((await call('GET', `/v1/messages/${id}`, { token: ann.token })).json?.status), 'the message released');
const r = await call('POST', `/v1/conversations/${conv}/receipts`, { token: bob.token, body: { read_seq: s.json.seq } });
assert.equal(r.status, 204, r.text);
await until(async () => (await call('GET', `/v1/messages/${id}`, { token: ann.token })).json?.status === 'read', 'the writer sees it read');

// a file (tus): lighttpd spools its body in the upload folder, the API
// writes it to the store, a worker checks it, bob reads its bytes
const bytes = Buffer.from(`installed host file ${tag}\n`.repeat(4000));
const meta = `filename ${Buffer.from('notes.txt').toString('base64')},filetype ${Buffer.from('text/plain').toString('base64')}`;
const created = await fetch(`${base}/v1/files`, { method: 'POST', headers: { Authorization: `Bearer ${ann.token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(bytes.length), 'Upload-Metadata': meta } });
assert.equal(created.status, 201, await created.text());
const location = created.headers.get('location');
const fileId = location.split('/').pop();
const patched = await fetch(new URL(location, base), { method: 'PATCH', headers: { Authorization: `Bearer ${ann.token}`, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: bytes });
assert.equal(patched.status, 204, await patched.text());
await until(async () => (await call('GET', `/v1/files/${fileId}`, { token: ann.token })).json?.status === 'ready', 'the file ready');
const f = await call('POST', `/v1/conversations/${conv}/messages`, { token: ann.token, body: { client_id: `inst-file-${tag}`, file_id: fileId } });
assert.equal(f.status, 202, f.text);
await until(() => stream.heard().includes(f.json.id), 'the file\'s message on bob\'s stream');
const content = await fetch(`${base}/v1/files/${fileId}/content`, { headers: { Authorization: `Bearer ${bob.token}` } });
assert.equal(content.status, 200);
assert.ok(Buffer.from(await content.arrayBuffer()).equals(bytes), 'bob reads the file\'s bytes');
await stream.close();
console.log('installed host: web UI, sign-up, sign-in, a conversation, a message heard live, released and read, a file uploaded and read');
