// Deliveries through Kafka (bus = kafka), against the mock cluster and the
// fake providers, on an instance whose topics have one partition each: every
// address shares the one partition of <prefix>deliveries, the hardest case
// for "one address in order, no address waits for another".
//
// 2 WhatsApp contacts get 30 messages each, in bursts, while the provider
// answers out of order (jitter); meanwhile the deliverer is killed -9 and started again
// (its partition goes to the new member once the group gives up on the dead
// one) and a broker is down for 2 s. Then: every delivery is `sent`; each
// address received its messages, counting first receipts, in the
// conversation's order; the only copies are of what the killed deliverer
// had in flight (at least once towards a provider, never a lost message).
//
// tools/test.sh runs it after tests/channels/channels.mjs on that instance:
// CHAT4ALL_TEST_KAFKA_CONTROL is the mock cluster's FIFO, VAR the instance.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import {
  base, OWNER, tag, sleep, call, user, fakeGet, fakeMode, until, metaPost, waMessage, sendText,
} from '../channels/client.mjs';

const CONTACTS = 3;
const EACH = 24;
const BURST = 2;
const control = process.env.CHAT4ALL_TEST_KAFKA_CONTROL;
const stack = process.env.CHAT4ALL_TEST_STACK;
assert.ok(control && stack && process.env.VAR, 'run from tools/test.sh');

const fault = (what) => execFileSync('sh', ['-c', `echo '${what}' > '${control}'`]);
const metric = (text, what) => Number((text.match(new RegExp(`^chat4all_bus_total\\{what="${what}"\\} (\\d+)$`, 'm')) || [])[1] || 0);
const metrics = async () => (await fetch(base + '/metrics')).text();

const owner = await user(OWNER);
execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['agent', OWNER], { stdio: 'ignore' });	// (again: the suite before did)
const phones = Array.from({ length: CONTACTS }, (_, k) => `5521${String(k).padStart(2, '0')}${String(tag).padStart(7, '0')}`);
for (const p of phones) assert.equal((await metaPost('whatsapp', waMessage(p, `Kafka ${p}`, `wamid.K${p}`, 'hi'))).status, 200);
const convs = await until(async () => {
  const list = (await call('GET', '/v1/conversations?limit=100', { token: owner.token })).json.items;
  const found = phones.map((p) => list.find((c) => c.peer?.username === `whatsapp:${p}`));
  return found.every(Boolean) && found;
}, 'the contacts\' conversations');

const sql = (q) => execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "${q}"`]).toString().trim();
const consumedOffsets = () => Number(sql("SELECT coalesce(sum(next_offset), 0) FROM bus_offsets WHERE group_id LIKE '%deliver'"));
const before = await metrics();
const offsetsBefore = consumedOffsets();
await fakeMode('whatsapp', 'jitter');
const texts = (k) => Array.from({ length: EACH }, (_, i) => `kafka ${phones[k]} #${i}`);
const mine = (s) => /^kafka \d+ #\d+$/.test(s.body.text?.body || '');
// bursts of BURST messages to each address, the addresses at once, a pause
// between bursts: each burst's later records come while its first is in
// flight from Kafka, and are handed over to the table, where the first's
// stand-in keeps them behind it (without it, one goes first about every
// other burst: the provider answers in 0–400 ms)
const sending = (async () => {
  for (let b = 0; b < EACH / BURST; b++) {
    await Promise.all(convs.map(async (c, k) => {
      for (const t of texts(k).slice(b * BURST, (b + 1) * BURST)) await sendText(owner.token, c.id, t);
    }));
    await sleep(600);
  }
})();

// mid-flow: the deliverer dies without a word, a broker goes away
await until(async () => (await fakeGet('/_sent')).filter(mine).length >= (2 * CONTACTS * EACH) / 3, 'two thirds of the deliveries');
const pidfile = `${process.env.VAR}/run/worker-deliver-1.pid`;
process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
const killedAt = (await fakeGet('/_sent')).filter(mine).length;
fault('down 1');
await sending;
execFileSync(stack, ['start'], { stdio: 'ignore' });	// starts what is not running: the deliverer
await sleep(2000);
fault('up 1');

// everything arrives (the group notices the dead member within its session
// timeout, and a stand-in's lease lapses within worker_lease + 2 timeouts)
const all = CONTACTS * EACH;
for (let i = 0; ; i++) {
  const got = new Set((await fakeGet('/_sent')).filter(mine).map((s) => s.body.text.body));
  if (got.size === all) break;
  assert.ok(i < 900, `only ${got.size} of ${all} deliveries arrived in 90 s`);
  await sleep(100);
}
await fakeMode('whatsapp', 'ok');

const sent = (await fakeGet('/_sent')).filter(mine);
for (let k = 0; k < CONTACTS; k++) {
  const firsts = [...new Set(sent.filter((s) => s.body.to === phones[k]).map((s) => s.body.text.body))];
  assert.deepEqual(firsts, texts(k), `${phones[k]} got its messages in order`);
}
const copies = sent.length - all;
assert.ok(copies <= 4, `${copies} copies: more than the killed deliverer could have had in flight (2 a channel, and as many sent but not recorded)`);

// the books agree: every delivery sent, nothing left waiting in the table
await until(async () => sql(`SELECT count(*) FROM deliveries WHERE address LIKE '5521%${String(tag).padStart(7, '0')}' AND status = 'sent'`) === String(all), 'every delivery recorded as sent');
await until(async () => sql("SELECT count(*) FROM jobs WHERE kind IN ('deliver', 'deliver_wait')") === '0', 'no delivery job left');
const after = await metrics();
assert.ok(metric(after, 'rebalances') > metric(before, 'rebalances'), 'the group rebalanced');
assert.ok(consumedOffsets() >= offsetsBefore + all, 'every delivery came from Kafka (the deliver group\'s offsets)');
console.log(`kafka deliveries: ${all} to ${CONTACTS} addresses on one partition, a deliverer killed -9 (after ${killedAt} arrived) and a broker down 2 s: all sent, each address in order, ${copies} copies`);
