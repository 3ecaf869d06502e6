// view-chat.js - the open conversation: its messages (their state is
// messages.js's Timeline; this draws it), sending, receipts, typing.

import * as API from './api.js';
import { Timeline } from './messages.js';
import { el, clear, $, time, bytes, initials, icon } from './dom.js';
import { PAGE, TYPING_EVERY_MS, state, newClientId, nameOf, convTitle, convSubtitle, toast, problemText } from './state.js';
import { renderConversations } from './view-conversations.js';
import { uploadFile } from './view-files.js';
import { membersDialog } from './view-members.js';
import { emptyPane } from './view-shell.js';

export async function openConversation(id) {
  clearTimeout(state.readTimer);
  const conv = await API.get(`/v1/conversations/${id}`);
  state.current = { id, conv, timeline: new Timeline(id, state.me.id), readSent: 0, stickToBottom: true };
  const item = state.conversations.get(id);
  const title = item ? convTitle(item) : conv.title || 'Conversation';
  document.body.classList.add('in-chat');
  const input = el('textarea#composer-text', {
    rows: 1, maxlength: 4096, placeholder: 'Write a message', 'aria-label': 'Write a message',
    on: {
      keydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey) {
          e.preventDefault();
          sendText();
        }
      },
      input: () => {
        const now = Date.now();
        if (now - state.lastTypingSent > TYPING_EVERY_MS) {
          state.lastTypingSent = now;
          API.post(`/v1/conversations/${id}/typing`).catch(() => {});
        }
      },
    },
  });
  const fileInput = el('input#file-input.visually-hidden', { type: 'file', on: { change: (e) => { for (const f of e.target.files) uploadFile(f); e.target.value = ''; } } });
  clear($('#pane'),
    el('section.chat', { 'aria-label': `Conversation ${title}` },
      el('header.chat-head', {},
        el('button.ghost.back', { type: 'button', 'aria-label': 'Back to conversations', text: '‹', on: { click: closeChat } }),
        el(`span.avatar${conv.type === 'group' ? '.group' : ''}`, { 'aria-hidden': 'true', text: initials(title) }),
        el('div.chat-title', {}, el('h2', { text: title }),
          el('span#typing.muted', { 'aria-live': 'polite', text: convSubtitle(conv) })),
        conv.type === 'group' ? el('button.ghost', { type: 'button', text: 'Members', on: { click: membersDialog } }) : null),
      el('ol#messages.messages', { 'aria-label': 'Messages', 'aria-live': 'polite', on: { scroll: onScroll } }),
      el('div#uploads.uploads'),
      el('form.composer', { on: { submit: (e) => { e.preventDefault(); sendText(); } } },
        el('label.attach', { for: 'file-input', title: 'Attach a file' }, el('span.visually-hidden', { text: 'Attach a file' }), icon('clip')),
        fileInput, input,
        el('button.primary.send', { type: 'submit', text: 'Send' }))));
  renderConversations();
  await loadOlder(true);
  input.focus();
}

export function closeChat() {
  state.current = null;
  document.body.classList.remove('in-chat');
  clear($('#pane'), emptyPane());
  renderConversations();
}

export async function loadOlder(first = false) {
  const cur = state.current;
  if (!cur || cur.loading || cur.timeline.done) return;
  cur.loading = true;
  const list = $('#messages');
  try {
    const q = first ? `limit=${PAGE}` : `limit=${PAGE}&before=${cur.timeline.oldest}`;
    const res = await API.get(`/v1/conversations/${cur.id}/messages?${q}`);
    if (state.current !== cur) return;
    const before = list.scrollHeight - list.scrollTop;
    cur.timeline.addPage(res.items, PAGE);
    renderMessages();
    if (first) list.scrollTop = list.scrollHeight;
    else list.scrollTop = list.scrollHeight - before;
    markDelivered(cur.id, cur.conv.last_seq);
  } catch (e) {
    toast(problemText(e), 'error');
  } finally {
    cur.loading = false;
  }
}

export function onScroll(e) {
  const list = e.target;
  if (state.current) state.current.stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  if (list.scrollTop < 80) loadOlder();
}

// A copy of a message from the server, into the open conversation.
export function upsertMessage(m) {
  if (state.current?.timeline.upsert(m)) messagesChanged();
}

// What a message of mine shows (messages.js).
export function statusOf(m) {
  return state.current.timeline.statusOf(m, state.current.conv.members);
}

const TICKS = {
  sending: ['◷', 'sending'], pending: ['◷', 'waiting for review'], held: ['⏸', 'held for review'],
  sent: ['✓', 'sent'], delivered: ['✓✓', 'delivered'], read: ['✓✓', 'read'],
  rejected: ['⚠', 'not delivered'], failed: ['⚠', 'not sent'],
};

let observer = null;

function renderMessages() {
  const cur = state.current;
  const list = $('#messages');
  if (!cur || !list) return;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const items = cur.timeline.sorted();
  observer?.disconnect();
  observer = new IntersectionObserver(onVisible, { root: list, threshold: 0.6 });
  let lastDay = '';
  const nodes = [];
  if (cur.timeline.done) nodes.push(el('li.day', { text: 'The beginning of this conversation' }));
  for (const m of items) {
    const day = m.created_at ? new Date(m.created_at).toDateString() : lastDay;
    if (day !== lastDay) {
      nodes.push(el('li.day', { text: day === new Date().toDateString() ? 'Today' : day }));
      lastDay = day;
    }
    const node = renderMessage(m);
    if (m.sender_id !== state.me.id && m.seq) observer.observe(node);
    nodes.push(node);
  }
  clear(list, nodes);
  if (atBottom) list.scrollTop = list.scrollHeight;
  fetchMissing(items);
}

// Many things change the messages (stream events, a file's details, a
// reason); they are drawn once, after all that arrived together.
let drawQueued = false;
export function messagesChanged() {
  if (drawQueued) return;
  drawQueued = true;
  setTimeout(() => {
    drawQueued = false;
    renderMessages();
  }, 0);
}

// What the drawing lacks and the server can tell (a file's details, why a
// message of mine was rejected): asked once each, after drawing, never
// from inside it.
function fetchMissing(items) {
  for (const m of items) {
    if (m.file && !state.files.has(m.file.id)) fetchFileInfo(m.file.id);
    if (m.sender_id === state.me.id && m.id && !m.reason && !m.reasonAsked && statusOf(m) === 'rejected') fetchReason(m);
  }
}

export function renderMessage(m) {
  const mine = m.sender_id === state.me.id;
  const status = mine ? statusOf(m) : null;
  const group = state.current.conv.type === 'group';
  const classes = ['msg', mine ? 'mine' : 'theirs', status === 'rejected' || status === 'failed' ? 'bad' : ''].filter(Boolean).join('.');
  const [tick, tickLabel] = status ? TICKS[status] || ['', status] : [];
  return el(`li.${classes}`, { dataset: { seq: m.seq || '', id: m.id || '' } },
    !mine && group ? el('span.author', { text: nameOf(m.sender_id) }) : null,
    m.text ? el('p.text', { text: m.text }) : null,
    m.file ? renderFile(m.file) : null,
    status === 'rejected' ? el('p.reason', { text: `Not delivered${m.reason ? `: ${m.reason}` : ''}` }) : null,
    status === 'failed' && m.local ? el('button.link.retry', { type: 'button', text: 'Not sent — retry', on: { click: () => send(m.pendingBody, m.client_id) } }) : null,
    status === 'failed' && !m.local ? el('p.reason', { text: `Not delivered${m.reason ? `: ${m.reason}` : ': every channel failed'}` }) : null,
    mine && m.channelNote && status !== 'failed' ? el('p.channel-note', { text: `Not delivered on ${m.channelNote}` }) : null,
    el('span.meta', {},
      m.created_at ? el('time', { datetime: m.created_at, text: time(m.created_at) }) : null,
      status ? el(`span.tick.${status}`, { title: tickLabel, 'aria-label': tickLabel, text: tick }) : null));
}

export function renderFile(f) {
  const box = el('div.file', {});
  const info = state.files.get(f.id);
  const label = `${f.filename} · ${bytes(f.size)}`;
  if (!info) {
    box.append(el('span.file-name', {}, icon('file'), label));
    return box;
  }
  if ((info.mime || '').startsWith('image/') && info.url) {
    const img = el('img.preview', { src: info.url, alt: f.filename, loading: 'lazy' });
    img.addEventListener('load', keepAtBottom, { once: true });
    box.append(img);
  }
  box.append(info.url
    ? el('a.download', { href: info.url, download: f.filename }, icon('download'), el('span', { text: label }))
    : el('span.file-name', {}, icon('file'), label));
  return box;
}

// A picture that loads late grows the list: stay at the newest message.
export function keepAtBottom() {
  const list = $('#messages');
  if (list && state.current?.stickToBottom) list.scrollTop = list.scrollHeight;
}

// History does not say why a message was rejected; its sender may ask.
function fetchReason(m) {
  if (m.reasonAsked) return;
  m.reasonAsked = true;
  API.get(`/v1/messages/${m.id}`).then((full) => {
    const why = full.moderation?.reason || full.moderation?.category;
    if (why) {
      m.reason = why;
      messagesChanged();
    }
  }).catch(() => {});
}

async function fetchFileInfo(id) {
  if (state.files.has(id)) return;
  state.files.set(id, null);
  try {
    state.files.set(id, await API.get(`/v1/files/${id}`));
    messagesChanged();
  } catch {
    state.files.delete(id);
  }
}

export function sendText() {
  const input = $('#composer-text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send({ text });
}

// Shown at once as `sending`; the same client_id on a retry makes the
// server answer the first message instead of making a second.
export async function send(body, clientId = newClientId()) {
  const cur = state.current;
  if (!cur) return;
  cur.timeline.sending(clientId, body);
  renderMessages();
  $('#messages').scrollTop = $('#messages').scrollHeight;
  const payload = { client_id: clientId };
  if (body.text) payload.text = body.text;
  if (body.file_id) payload.file_id = body.file_id;
  try {
    const m = await API.post(`/v1/conversations/${cur.id}/messages`, payload);
    upsertMessage(m);
  } catch (e) {
    cur.timeline.sendFailed(clientId);
    renderMessages();
    if (e instanceof API.ApiError && e.status < 500 && e.status !== 429) toast(problemText(e), 'error');
  }
}

export function markDelivered(convId, seq) {
  if (!seq || (state.deliveredSent.get(convId) || 0) >= seq) return;
  state.deliveredSent.set(convId, seq);
  API.post(`/v1/conversations/${convId}/receipts`, { delivered_seq: seq }).catch(() => {});
}

// Read means seen: a message of someone else that is on screen, in a
// visible tab.
export function onVisible(entries) {
  const cur = state.current;
  if (!cur || document.visibilityState !== 'visible') return;
  let max = cur.readSent;
  for (const e of entries) if (e.isIntersecting) max = Math.max(max, Number(e.target.dataset.seq) || 0);
  if (max <= cur.readSent) return;
  cur.readPending = max;
  clearTimeout(state.readTimer);
  state.readTimer = setTimeout(() => {
    if (state.current !== cur || cur.readPending <= cur.readSent) return;
    cur.readSent = cur.readPending;
    API.post(`/v1/conversations/${cur.id}/receipts`, { read_seq: cur.readSent }).catch(() => {});
    const item = state.conversations.get(cur.id);
    if (item) {
      item.unread_count = 0;
      renderConversations();
    }
  }, 300);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.current) messagesChanged();
});

export function showTyping() {
  const t = $('#typing');
  const cur = state.current;
  if (!t || !cur) return;
  const names = [...state.typing.keys()].map(nameOf);
  t.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`
    : convSubtitle(cur.conv);
  t.classList.toggle('typing', names.length > 0);
}
