// The web UI's message state (web/js/messages.js) under node: copies of a
// message arriving in every order end as one message with the furthest
// status, and what a message of mine shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timeline } from '../../web/js/messages.js';

const ME = 'u-me', BOB = 'u-bob', CONV = 'c-1';
const members = (delivered, read) => [
  { user_id: ME, delivered_seq: 99, read_seq: 99 },
  { user_id: BOB, delivered_seq: delivered, read_seq: read },
];
const mine = (seq, status, extra = {}) => ({
  id: `m-${seq}`, conversation_id: CONV, seq, sender_id: ME, client_id: `web-${seq}`, text: `#${seq}`, status, ...extra,
});

test('a local send becomes the server copy, once', () => {
  const t = new Timeline(CONV, ME);
  const local = t.sending('web-1', { text: 'hi' }, new Date(0));
  assert.equal(local.local, 'sending');
  assert.equal(t.statusOf(local, members(0, 0)), 'sending');
  t.upsert(mine(1, 'pending'));
  assert.equal(t.sorted().length, 1, 'the local copy is replaced, not kept beside');
  const m = t.get('m-1');
  assert.equal(m.local, undefined);
  assert.equal(t.statusOf(m, members(0, 0)), 'pending');
  assert.equal(t.newest, 1);
});

test('a failed send offers a retry, and the retry is the same message', () => {
  const t = new Timeline(CONV, ME);
  t.sending('web-1', { text: 'hi' });
  t.sendFailed('web-1');
  assert.equal(t.sorted()[0].local, 'failed');
  const again = t.sending('web-1', { text: 'hi' });
  assert.equal(again.local, 'sending');
  assert.equal(t.sorted().length, 1);
});

test('the stream status before the POST answer: never back to pending', () => {
  const t = new Timeline(CONV, ME);
  t.sending('web-1', { text: 'hi' });
  t.upsert(mine(1, 'pending'));
  assert.ok(t.applyStatus({ conversation_id: CONV, message_id: 'm-1', seq: 1, status: 'sent' }));
  t.upsert(mine(1, 'pending')); // a late copy (the POST's answer, a history page)
  assert.equal(t.get('m-1').status, 'sent');
  assert.equal(t.statusOf(t.get('m-1'), members(0, 0)), 'sent');
});

test('delivered and read follow every other member, or a status event', () => {
  const t = new Timeline(CONV, ME);
  t.addPage([mine(3, 'sent'), mine(2, 'sent'), mine(1, 'sent')], 50);
  assert.equal(t.done, true);
  assert.equal(t.oldest, 1);
  assert.deepEqual(t.sorted().map((m) => m.seq), [1, 2, 3]);
  const ms = members(2, 1);
  assert.equal(t.statusOf(t.get('m-1'), ms), 'read');
  assert.equal(t.statusOf(t.get('m-2'), ms), 'delivered');
  assert.equal(t.statusOf(t.get('m-3'), ms), 'sent');
  // a channel's receipt (WhatsApp read it) goes further than the horizons
  t.applyStatus({ conversation_id: CONV, message_id: 'm-3', status: 'read', channel: 'whatsapp' });
  assert.equal(t.statusOf(t.get('m-3'), ms), 'read');
  // and a weaker event later does not take it back
  t.applyStatus({ conversation_id: CONV, message_id: 'm-3', status: 'delivered', channel: 'whatsapp' });
  assert.equal(t.statusOf(t.get('m-3'), ms), 'read');
});

test('rejected and held show as such, with the reason', () => {
  const t = new Timeline(CONV, ME);
  t.upsert(mine(1, 'pending'));
  t.applyStatus({ conversation_id: CONV, message_id: 'm-1', status: 'rejected', reason: 'spam' });
  assert.equal(t.statusOf(t.get('m-1'), members(5, 5)), 'rejected');
  assert.equal(t.get('m-1').reason, 'spam');
  t.upsert(mine(2, 'held'));
  assert.equal(t.statusOf(t.get('m-2'), members(5, 5)), 'held');
});

test('one channel failing is a note, not a failed message', () => {
  const t = new Timeline(CONV, ME);
  t.upsert(mine(1, 'sent'));
  t.applyStatus({ conversation_id: CONV, message_id: 'm-1', status: 'failed', channel: 'telegram', reason: 'chat not found' });
  assert.equal(t.get('m-1').channelNote, 'telegram: chat not found');
  assert.equal(t.statusOf(t.get('m-1'), members(1, 0)), 'delivered');
  // every channel failing is the message's own status
  t.upsert(mine(2, 'failed'));
  assert.equal(t.statusOf(t.get('m-2'), members(5, 5)), 'failed');
});

test('what belongs elsewhere changes nothing', () => {
  const t = new Timeline(CONV, ME);
  assert.equal(t.upsert({ ...mine(1, 'sent'), conversation_id: 'c-2' }), null);
  assert.equal(t.applyStatus({ conversation_id: 'c-2', message_id: 'm-1', status: 'read' }), false);
  assert.equal(t.applyStatus({ conversation_id: CONV, message_id: 'm-9', status: 'read' }), false);
  assert.equal(t.sorted().length, 0);
});

test('pages: where the next one starts, and the last one', () => {
  const t = new Timeline(CONV, ME);
  const page = Array.from({ length: 50 }, (_, i) => mine(100 - i, 'sent'));
  t.addPage(page, 50);
  assert.equal(t.done, false);
  assert.equal(t.oldest, 51);
  assert.equal(t.newest, 100);
  // a local one without a seq yet sorts last
  t.sending('web-x', { text: 'new' });
  assert.equal(t.sorted().at(-1).client_id, 'web-x');
});
