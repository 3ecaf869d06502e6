// Traces across processes (lib/trace.h), end to end: one message sent with
// a W3C traceparent is one trace in the collector (tests/fakes/otlp.mjs) -
// the API's span, the moderation job, the release, the delivery's provider
// request (which tells the provider the trace too) and the stream events -
// and every log line of that work carries its trace_id.
// tools/test.sh runs it on an instance started with otlp_endpoint set, after
// tests/channels/channels.mjs: OTLP_URL, FAKE_URL, CHAT4ALL_TEST_* as there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { base, tag, sleep, call, user, until, listen, fakeGet } from '../channels/client.mjs';

const otlp = process.env.OTLP_URL;
assert.ok(otlp, 'run from tools/test.sh (OTLP_URL)');
const spansOf = async (trace) => (await fetch(`${otlp}/_spans?trace=${trace}`)).json();
const logLines = () => readFileSync(`${process.env.CHAT4ALL_TEST_VAR}/log/chat4all.log`, 'utf8')
  .split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
const newIds = () => ({ trace: randomBytes(16).toString('hex'), span: randomBytes(8).toString('hex') });

// Two agents and a WhatsApp contact in one conversation (as a channel makes
// it): a message of one agent reaches the other live and the contact on WhatsApp.
const a = await user(`tra_${tag}`);
const b = await user(`trb_${tag}`);
for (const who of [`tra_${tag}`, `trb_${tag}`])
  execFileSync(process.env.CHAT4ALL_TEST_ADMIN, ['agent', who], { stdio: 'ignore' });
const phone = `55117${String(tag).padStart(8, '0')}`;
const [outcome, conv] = execFileSync('sh', ['-c', `${process.env.CHAT4ALL_TEST_PSQL} -c "SELECT outcome, conversation_id FROM channel_receive('whatsapp', '${phone}', 'Trace Test', 'wamid.TR${tag}', 'hello', 'tra_${tag}, trb_${tag}', gen_random_uuid(), 'test', NULL)"`]).toString().trim().split('|');
assert.equal(outcome, 'created');

// a listens on the stream
const stream = await listen(a.token);
const send = async (text, headers) => {
  const r = await call('POST', `/v1/conversations/${conv}/messages`, { token: b.token, headers, body: { client_id: `tr-${tag}-${text}`, text } });
  assert.equal(r.status, 202, r.text);
  return r.json.id;
};

// ---- a trace the client does not want recorded (flags 00): it travels, no span is kept
const unsampled = newIds();
const quiet = await send('not sampled', { traceparent: `00-${unsampled.trace}-${unsampled.span}-00` });
// (and it proves a's stream is subscribed before the traced one is sent)
await until(() => stream.heard().includes(quiet), 'the first message on the stream');

// ---- the traced message
const client = newIds();
const id = await send('traced', { traceparent: `00-${client.trace}-${client.span}-01` });
await until(() => stream.heard().includes(id), 'the traced message on the stream');
const sent = await until(async () => (await fakeGet('/_sent')).find((x) => x.body.to === phone && JSON.stringify(x.body).includes('traced')), 'its delivery on WhatsApp');

const want = ['POST /v1/conversations/{id}/messages', 'job moderate', 'release', 'deliver whatsapp', 'stream message'];
const spans = await until(async () => {
  const got = await spansOf(client.trace);
  return want.every((n) => got.some((s) => s.name === n)) && got;
}, `the spans ${want.join(', ')} of one trace`);
const named = (n) => spans.find((s) => s.name === n);

// one trace: the API's span continues the client's, every other hangs below it
const api = named('POST /v1/conversations/{id}/messages');
assert.equal(api.parentSpanId, client.span, 'the API span is a child of the client\'s');
assert.equal(api.service, 'chat4all-api');
assert.equal(api.kind, 2);	// SERVER
assert.equal(api.attributes['http.response.status_code'], '202');
const ids = new Set([client.span, ...spans.map((s) => s.spanId)]);
for (const s of spans) assert.ok(ids.has(s.parentSpanId), `${s.name}'s parent is in the trace`);
for (const n of ['job moderate', 'release', 'deliver whatsapp', 'stream message'])
  assert.equal(named(n).parentSpanId, api.spanId, `${n} is a child of the API's span`);
assert.equal(named('job moderate').service, 'chat4all-worker');
assert.equal(named('release').attributes['chat4all.message_id'], id);
const deliver = named('deliver whatsapp');
assert.equal(deliver.service, 'chat4all-deliver');
assert.equal(deliver.kind, 3);	// CLIENT
assert.equal(deliver.attributes['chat4all.outcome'], 'sent');
assert.equal(named('stream message').service, 'chat4all-stream');
// the provider was told: its request's traceparent is the delivery's span
assert.equal(sent.traceparent, `00-${client.trace}-${deliver.spanId}-01`);
// ids never in a span's name (a path holds ids; the route names it)
for (const s of spans) assert.ok(!s.name.includes(conv) && !s.name.includes(id), s.name);

// the traceparent rode the live path to the gateway, and no further
assert.ok(!stream.heard().includes(client.trace), 'the stream never shows a client the trace');
// a replay of the stream (what a reconnecting client gets) has the message, not the trace
const replay = await call('GET', '/v1/poll?cursor=0', { token: a.token });
assert.equal(replay.status, 200, replay.text);
assert.ok(replay.text.includes(id) && !replay.text.includes(client.trace), 'the replay has the message and no trace');

// every log line of that work has the trace: the API's, the deliverer's
const lines = logLines().filter((l) => l.trace_id === client.trace);
for (const proc of ['api', 'deliver'])
  assert.ok(lines.some((l) => l.proc === proc), `a line of ${proc} with trace_id ${client.trace}`);

// ---- bad traceparents start a trace of their own (never an error, never the client's)
for (const bad of ['00-xyz', `00-${'0'.repeat(32)}-${client.span}-01`, `ff-${client.trace}-${client.span}-01`, `00-${client.trace.toUpperCase()}-${client.span}-01`]) {
  const rid = `trbad${randomBytes(6).toString('hex')}`;
  const r = await call('GET', `/v1/conversations/${conv}`, { token: b.token, headers: { traceparent: bad, 'X-Request-Id': rid } });
  assert.equal(r.status, 200, bad);
  const line = await until(() => logLines().find((l) => l.req_id === rid && l.msg === 'request'), `the request line of ${rid}`);
  assert.match(line.trace_id, /^[0-9a-f]{32}$/);
  assert.notEqual(line.trace_id, client.trace, `${bad} is not taken as the client's trace`);
}

// ---- the unsampled one left no span anywhere (its stages ran before the
// traced message's, whose spans are all in: a second more for the posts)
await sleep(2000);
assert.deepEqual(await spansOf(unsampled.trace), [], 'a trace whose flags say not sampled is not exported');
const posts = await (await fetch(`${otlp}/_posts`)).json();
assert.equal(posts.refused, 0, 'every export was OTLP the collector took');

// ---- /metrics counts the spans every process exported, and those lost
// while the collector was away (what alert Chat4AllTraceSpansDropped watches)
const spanCounts = async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const count = (outcome) => Number(text.match(new RegExp(`^chat4all_trace_spans_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
  return { exported: count('exported'), dropped: count('dropped') };
};
const before = await spanCounts();
assert.ok(before.exported >= spans.length, `/metrics counts the exported spans (${before.exported})`);
await fetch(`${otlp}/_away?ms=3000`, { method: 'POST' });
const lost = newIds();
await send('while the collector is away', { traceparent: `00-${lost.trace}-${lost.span}-01` });
const after = await until(async () => { const c = await spanCounts(); return c.dropped > before.dropped && c; },
  'spans counted as dropped while the collector answers 503');
await sleep(3000);	// (back: the next suites' spans are taken)

await stream.close();
console.log(`traces: one message is one trace of ${spans.length} spans across ${new Set(spans.map((s) => s.service)).size} processes (${want.join(', ')}); ${posts.posts} exports; /metrics: ${before.exported} spans exported, ${after.dropped - before.dropped} dropped while the collector was away`);
