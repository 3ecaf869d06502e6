// An existing tus client, unchanged (tus-js-client from npm), against
// Chat4All through lighttpd: a 3 MiB file in 1 MiB PATCHes, interrupted
// after the first one and resumed from the server's offset by a second
// client that knows only the upload's URL; then the file is verified
// (ready, same SHA-256) and downloaded byte for byte.
//
//   CHAT4ALL_TEST_URL=http://127.0.0.1:8080 node tests/tus/upload.mjs
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import * as tus from 'tus-js-client';

const base = process.env.CHAT4ALL_TEST_URL;
assert.ok(base, 'set CHAT4ALL_TEST_URL');

async function json(path, init = {}) {
  const res = await fetch(base + path, init);
  const body = await res.text();
  return { status: res.status, body: body ? JSON.parse(body) : null, res };
}

const name = `tusjs_${process.pid}_${Date.now() % 100000}`;
const creds = JSON.stringify({ username: name, password: 'tus js client' });
const post = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: creds };
assert.equal((await json('/v1/auth/register', post)).status, 201);
const token = (await json('/v1/auth/token', post)).body.access_token;
const auth = { Authorization: `Bearer ${token}` };

const data = randomBytes(3 * 1024 * 1024);
const sha256 = createHash('sha256').update(data).digest('hex');
const options = {
  endpoint: `${base}/v1/files`,
  headers: auth,
  chunkSize: 1024 * 1024,
  retryDelays: [],
  metadata: { filename: 'photo of us.jpg', filetype: 'image/jpeg', sha256 },
};

// The first client stops after its first chunk went through.
let uploadUrl;
await new Promise((resolve, reject) => {
  const upload = new tus.Upload(data, {
    ...options,
    onChunkComplete(chunk, sent) {
      if (sent >= options.chunkSize) {
        uploadUrl = upload.url;
        upload.abort().then(resolve, reject);
      }
    },
    onSuccess: () => reject(new Error('the upload should have been interrupted')),
    onError: reject,
  });
  upload.start();
});
assert.ok(uploadUrl, 'the server gave the upload a URL');
const head = await fetch(uploadUrl, { method: 'HEAD', headers: { ...auth, 'Tus-Resumable': '1.0.0' } });
assert.equal(head.headers.get('upload-offset'), String(options.chunkSize));

// The second client resumes from the URL: it asks HEAD where to go on.
const offsets = [];
await new Promise((resolve, reject) => {
  const upload = new tus.Upload(data, {
    ...options,
    uploadUrl,
    onChunkComplete: (chunk, sent) => offsets.push(sent),
    onSuccess: resolve,
    onError: reject,
  });
  upload.start();
});
assert.deepEqual(offsets, [2 * 1024 * 1024, 3 * 1024 * 1024], 'it went on from 1 MiB, not from 0');

// Verified off the request path, then fetched whole.
const id = new URL(uploadUrl).pathname.split('/').pop();
let file;
for (let i = 0; i < 300; i++) {
  file = (await json(`/v1/files/${id}`, { headers: auth })).body;
  if (file.status !== 'verifying') break;
  await new Promise((r) => setTimeout(r, 100));
}
assert.equal(file.status, 'ready');
assert.equal(file.sha256, sha256);
assert.equal(file.filename, 'photo of us.jpg');
assert.equal(file.mime, 'image/jpeg');
const got = Buffer.from(await (await fetch(`${base}/v1/files/${id}/content`, { headers: auth })).arrayBuffer());
assert.ok(got.equals(data), 'the download is the upload, byte for byte');
console.log(`tus-js-client: 3 MiB in 1 MiB chunks, interrupted after 1 MiB and resumed at ${offsets[0] - options.chunkSize}; ready, sha256 and bytes match`);
