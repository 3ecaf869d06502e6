// app.js - the Chat4All web UI: sign-in, conversations, the chat, files,
// and the admin's review queue. Plain modern JavaScript, no build step.
// Data reaches the page only as text nodes (dom.js), never as HTML.

import * as API from './api.js';
import { Live } from './live.js';
import { el, clear, $, time, bytes, initials, icon } from './dom.js';

const PAGE = 50;
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 4000;

const state = {
  me: null,
  conversations: new Map(), // id → list item (API shape)
  current: null, // { id, conv (GET shape), messages: Map key → msg, oldest, newest, done }
  live: null,
  files: new Map(), // file id → GET /v1/files/{id} (with its signed url)
  typing: new Map(), // user id → timer
  lastTypingSent: 0,
  readTimer: null,
  deliveredSent: new Map(), // conversation id → seq
};

const app = $('#app');

// ------------------------------------------------------------- helpers

function newClientId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function nameOf(userId) {
  const m = state.current?.conv.members?.find((x) => x.user_id === userId);
  if (m) return m.display_name || m.username;
  if (userId === state.me?.id) return state.me.display_name || state.me.username;
  return 'someone';
}

function convTitle(c) {
  if (c.type === 'group') return c.title || 'Group';
  return c.peer ? c.peer.display_name || c.peer.username : 'Conversation';
}

// Under the title: a group's size, or where a contact lives ("on WhatsApp ·
// 5511…": a contact's username is channel:address).
const CHANNEL_NAMES = { whatsapp: 'WhatsApp', telegram: 'Telegram', messenger: 'Messenger', instagram: 'Instagram' };
function convSubtitle(conv) {
  if (conv.type === 'group') return `${conv.members.length} members`;
  const other = conv.members?.find((m) => m.user_id !== state.me?.id);
  const [channel, ...rest] = (other?.username || '').split(':');
  return rest.length && CHANNEL_NAMES[channel] ? `on ${CHANNEL_NAMES[channel]} · ${rest.join(':')}` : '';
}

function toast(text, kind = 'info') {
  const t = el(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : 'status', text });
  $('#toasts')?.append(t);
  setTimeout(() => t.remove(), 5000);
}

function problemText(e) {
  if (e instanceof API.ApiError) {
    const f = (e.problem.errors || []).map((x) => `${x.field}: ${x.message}`).join('; ');
    return f || e.message;
  }
  return 'The server could not be reached. Check your connection.';
}

// ---------------------------------------------------------------- auth

function showAuth(mode = 'signin', note = '') {
  state.live?.stop();
  const error = el('p.form-error', { role: 'alert', 'aria-live': 'assertive' });
  const signup = mode === 'signup';
  const form = el(
    'form.auth-card',
    {
      'aria-labelledby': 'auth-title',
      on: {
        submit: async (ev) => {
          ev.preventDefault();
          const data = new FormData(form);
          const btn = form.querySelector('button[type=submit]');
          btn.disabled = true;
          error.textContent = '';
          try {
            if (signup) await API.signUp(data.get('username').trim(), data.get('password'), data.get('display_name').trim());
            else await API.signIn(data.get('username').trim(), data.get('password'));
            await showMain();
          } catch (e) {
            error.textContent = e.status === 401 ? 'Wrong username or password.' : problemText(e);
            btn.disabled = false;
          }
        },
      },
    },
    el('div.brand', {}, el('span.logo', { 'aria-hidden': 'true', text: '◆' }), 'Chat4All'),
    el('h1#auth-title', { text: signup ? 'Create your account' : 'Welcome back' }),
    note ? el('p.note', { text: note }) : null,
    el('label', { for: 'username', text: 'Username' }),
    el('input#username', {
      name: 'username', autocomplete: 'username', required: true, minlength: 3, maxlength: 32,
      pattern: '[a-z0-9_.\\-]+', title: '3 to 32 of a-z, 0-9, _ . -', autocapitalize: 'none', spellcheck: 'false',
    }),
    signup ? el('label', { for: 'display_name', text: 'Display name (optional)' }) : null,
    signup ? el('input#display_name', { name: 'display_name', autocomplete: 'name', maxlength: 64 }) : null,
    el('label', { for: 'password', text: 'Password' }),
    el('input#password', {
      name: 'password', type: 'password', required: true, minlength: 8,
      autocomplete: signup ? 'new-password' : 'current-password',
    }),
    error,
    el('button.primary', { type: 'submit', text: signup ? 'Sign up' : 'Sign in' }),
    el('p.switch', {},
      signup ? 'Have an account? ' : 'New here? ',
      el('button.link', { type: 'button', text: signup ? 'Sign in' : 'Create an account', on: { click: () => showAuth(signup ? 'signin' : 'signup') } })),
  );
  clear(app, el('main.auth', {}, form));
  document.title = 'Chat4All';
  form.querySelector('input').focus();
}

// ---------------------------------------------------------------- main

async function showMain() {
  state.me = await API.get('/v1/me');
  const search = el('input#search', {
    type: 'search', placeholder: 'Find people', 'aria-label': 'Find people by name', autocomplete: 'off',
    on: { input: debounce((e) => searchPeople(e.target.value), 250) },
  });
  clear(
    app,
    el('div.shell', {},
      el('header.topbar', {},
        el('div.brand', {}, el('span.logo', { 'aria-hidden': 'true', text: '◆' }), 'Chat4All'),
        el('span#conn.conn', { role: 'status', 'aria-live': 'polite', text: 'connecting…' }),
        el('div.spacer'),
        state.me.role === 'admin' ? el('button#admin-btn.ghost', { type: 'button', text: 'Review', on: { click: showAdmin } }) : null,
        el('span.me', { title: state.me.username }, el('span.avatar', { 'aria-hidden': 'true', text: initials(state.me.display_name || state.me.username) }),
          el('span.me-name', { text: state.me.display_name || state.me.username })),
        el('button.ghost', { type: 'button', text: 'Sign out', on: { click: signOut } })),
      el('aside.sidebar', { 'aria-label': 'Conversations' },
        el('div.sidebar-tools', {}, search, el('button.primary.small', { type: 'button', text: 'New group', on: { click: newGroupDialog } })),
        el('ul#people.people', { 'aria-label': 'People found', hidden: true }),
        el('ul#convs.convs', { 'aria-label': 'Your conversations' })),
      el('main#pane.pane', {}, emptyPane())),
    el('div#toasts.toasts', { 'aria-live': 'polite' }),
  );
  document.body.classList.remove('in-chat');
  state.live?.stop();
  state.live = new Live(onEvent, (s) => {
    if (s === 'signed-out') {	// this sign-in ended elsewhere
      signOut();
      return;
    }
    const c = $('#conn');
    if (c) {
      c.textContent = s === 'live' ? 'live' : s === 'elsewhere' ? 'open in too many places' : 'reconnecting…';
      c.className = `conn ${s}`;
    }
  });
  state.live.start();
  await loadConversations();
}

function emptyPane() {
  return el('div.empty', {},
    el('div.empty-art', { 'aria-hidden': 'true', text: '💬' }),
    el('h2', { text: 'Pick a conversation' }),
    el('p', { text: 'Or find someone with the search box and say hello.' }));
}

async function signOut() {
  state.live?.stop();
  try {
    await API.signOut();
  } catch {
    /* signed out here either way */
  }
  state.current = null;
  state.conversations.clear();
  showAuth('signin', 'You are signed out.');
}

function debounce(fn, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

// ------------------------------------------------------- conversations

async function loadConversations() {
  const list = await API.get('/v1/conversations?limit=100');
  state.conversations.clear();
  for (const c of list.items) state.conversations.set(c.id, c);
  renderConversations();
}

function renderConversations() {
  const ul = $('#convs');
  if (!ul) return;
  const items = [...state.conversations.values()].sort((a, b) =>
    (b.last_activity || '').localeCompare(a.last_activity || ''));
  if (!items.length) {
    clear(ul, el('li.hint', { text: 'No conversations yet. Find someone above.' }));
    return;
  }
  clear(ul, items.map((c) => {
    const title = convTitle(c);
    const last = c.last_message;
    const preview = !last ? 'No messages yet'
      : last.file ? `File: ${last.file.filename}` : last.text || '';
    const unread = state.current?.id === c.id ? 0 : c.unread_count || 0;
    return el('li', {},
      el(`button.conv${state.current?.id === c.id ? '.active' : ''}`, {
        type: 'button', dataset: { id: c.id },
        'aria-current': state.current?.id === c.id ? 'true' : null,
        'aria-label': `${title}${unread ? `, ${unread} unread` : ''}`,
        on: { click: () => openConversation(c.id) },
      },
      el(`span.avatar${c.type === 'group' ? '.group' : ''}`, { 'aria-hidden': 'true', text: initials(title) }),
      el('span.conv-body', {},
        el('span.conv-top', {}, el('span.conv-title', { text: title }),
          last ? el('span.conv-time', { text: time(last.created_at) }) : null),
        el('span.conv-bottom', {}, el('span.conv-preview', { text: preview }),
          unread ? el('span.badge', { 'aria-hidden': 'true', text: String(unread) }) : null))));
  }));
}

async function searchPeople(q) {
  const ul = $('#people');
  q = q.trim();
  if (!q) {
    ul.hidden = true;
    return;
  }
  try {
    const res = await API.get(`/v1/users?q=${encodeURIComponent(q)}&limit=8`);
    const people = res.items.filter((u) => u.id !== state.me.id);
    ul.hidden = false;
    clear(ul, people.length ? people.map((u) => el('li', {},
      el('button.person', {
        type: 'button', 'aria-label': `Chat with ${u.display_name || u.username}`,
        on: { click: () => startPrivate(u) },
      },
      el('span.avatar', { 'aria-hidden': 'true', text: initials(u.display_name || u.username) }),
      el('span', {}, el('strong', { text: u.display_name || u.username }), ' ', el('span.muted', { text: `@${u.username}` })))))
      : el('li.hint', { text: 'Nobody by that name.' }));
  } catch (e) {
    toast(problemText(e), 'error');
  }
}

async function startPrivate(user) {
  try {
    const c = await API.post('/v1/conversations', { type: 'private', members: [user.id] });
    $('#search').value = '';
    $('#people').hidden = true;
    await loadConversations();
    await openConversation(c.id);
  } catch (e) {
    toast(problemText(e), 'error');
  }
}

// A "find people" field for the dialogs: the matches (minus @exclude) as
// buttons that call @pick. Returns [label, input, list].
function peoplePicker(id, labelText, exclude, pick, pickText) {
  const results = el('ul.people');
  const input = el(`input#${id}`, {
    type: 'search', autocomplete: 'off',
    on: {
      input: debounce(async (e) => {
        const q = e.target.value.trim();
        if (!q) return clear(results);
        const res = await API.get(`/v1/users?q=${encodeURIComponent(q)}&limit=6`);
        clear(results, res.items.filter((u) => u.id !== state.me.id && !exclude(u)).map((u) => el('li', {},
          el('button.person', { type: 'button', on: { click: () => pick(u) } },
            el('span.avatar', { 'aria-hidden': 'true', text: initials(u.display_name || u.username) }),
            el('span', { text: pickText(u) })))));
      }, 250),
    },
  });
  return [el('label', { for: id, text: labelText }), input, results];
}

function newGroupDialog() {
  const chosen = new Map();
  const chips = el('div.chips', { 'aria-live': 'polite' });
  const error = el('p.form-error', { role: 'alert' });
  const renderChips = () => clear(chips, [...chosen.values()].map((u) =>
    el('span.chip', {}, u.display_name || u.username,
      el('button.chip-x', { type: 'button', 'aria-label': `Remove ${u.username}`, text: '×', on: { click: () => { chosen.delete(u.id); renderChips(); } } }))));
  const dialog = el('dialog.dialog', { 'aria-labelledby': 'group-title' },
    el('form', {
      method: 'dialog',
      on: {
        submit: async (ev) => {
          ev.preventDefault();
          const title = dialog.querySelector('#group-name').value.trim();
          try {
            const c = await API.post('/v1/conversations', { type: 'group', title, members: [...chosen.keys()] });
            dialog.close();
            await loadConversations();
            await openConversation(c.id);
          } catch (e) {
            error.textContent = problemText(e);
          }
        },
      },
    },
    el('h2#group-title', { text: 'New group' }),
    el('label', { for: 'group-name', text: 'Group name' }),
    el('input#group-name', { required: true, maxlength: 100 }),
    ...peoplePicker('group-search', 'Add people', (u) => chosen.has(u.id),
      (u) => { chosen.set(u.id, u); renderChips(); }, (u) => `${u.display_name || u.username} @${u.username}`),
    chips, error,
    el('div.dialog-actions', {},
      el('button.ghost', { type: 'button', text: 'Cancel', on: { click: () => dialog.close() } }),
      el('button.primary', { type: 'submit', text: 'Create group' }))));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// ---------------------------------------------------------------- chat

async function openConversation(id) {
  clearTimeout(state.readTimer);
  const conv = await API.get(`/v1/conversations/${id}`);
  state.current = { id, conv, messages: new Map(), oldest: null, newest: 0, done: false, readSent: 0, stickToBottom: true };
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

function closeChat() {
  state.current = null;
  document.body.classList.remove('in-chat');
  clear($('#pane'), emptyPane());
  renderConversations();
}

async function loadOlder(first = false) {
  const cur = state.current;
  if (!cur || cur.loading || cur.done) return;
  cur.loading = true;
  const list = $('#messages');
  try {
    const q = first ? `limit=${PAGE}` : `limit=${PAGE}&before=${cur.oldest}`;
    const res = await API.get(`/v1/conversations/${cur.id}/messages?${q}`);
    if (state.current !== cur) return;
    const before = list.scrollHeight - list.scrollTop;
    for (const m of res.items) upsertMessage(m, false);
    if (res.items.length < PAGE) cur.done = true;
    if (res.items.length) cur.oldest = Math.min(...res.items.map((m) => m.seq));
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

function onScroll(e) {
  const list = e.target;
  if (state.current) state.current.stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  if (list.scrollTop < 80) loadOlder();
}

// A message's key: its id once the server named it, else its client_id.
function upsertMessage(m, render = true) {
  const cur = state.current;
  if (!cur || m.conversation_id !== cur.id) return;
  let existing = cur.messages.get(m.id);
  if (!existing && m.client_id) existing = cur.messages.get(`c:${m.client_id}`);
  if (existing) {
    cur.messages.delete(`c:${existing.client_id}`);
    // a status we were told of (delivered/read/rejected) outranks an older copy
    const merged = { ...existing, ...m, local: undefined };
    // copies arrive out of order (the POST's answer can come after the
    // stream's status event): a status never goes back to pending
    if ((PROGRESS[existing.status] || 0) > (PROGRESS[m.status] || 0)) merged.status = existing.status;
    if (existing.statusEvent && rank(existing.statusEvent) > rank(m.status)) merged.statusEvent = existing.statusEvent;
    m = merged;
  }
  cur.messages.set(m.id || `c:${m.client_id}`, m);
  if (m.seq) cur.newest = Math.max(cur.newest, m.seq);
  if (render) renderMessages();
}

const RANKS = ['failed', 'pending', 'held', 'rejected', 'sent', 'delivered', 'read'];
const PROGRESS = { pending: 0, held: 1, rejected: 2, sent: 2, failed: 2 };
const rank = (s) => RANKS.indexOf(s);

// What a message of mine shows: its own status, and the others' horizons.
function statusOf(m) {
  if (m.local) return m.local; // sending | failed
  if (['pending', 'held', 'rejected', 'failed'].includes(m.status)) return m.status;
  const others = state.current.conv.members.filter((x) => x.user_id !== state.me.id);
  let s = 'sent';
  if (others.length && m.seq <= Math.min(...others.map((x) => x.delivered_seq))) s = 'delivered';
  if (others.length && m.seq <= Math.min(...others.map((x) => x.read_seq))) s = 'read';
  if (m.statusEvent && rank(m.statusEvent) > rank(s)) s = m.statusEvent;
  return s;
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
  const items = [...cur.messages.values()].sort((a, b) => (a.seq || 1e18) - (b.seq || 1e18));
  observer?.disconnect();
  observer = new IntersectionObserver(onVisible, { root: list, threshold: 0.6 });
  let lastDay = '';
  const nodes = [];
  if (cur.done) nodes.push(el('li.day', { text: 'The beginning of this conversation' }));
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
}

function renderMessage(m) {
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
    status === 'rejected' && !m.reason && m.id ? fetchReason(m) : null,
    status === 'failed' && m.local ? el('button.link.retry', { type: 'button', text: 'Not sent — retry', on: { click: () => send(m.pendingBody, m.client_id) } }) : null,
    status === 'failed' && !m.local ? el('p.reason', { text: `Not delivered${m.reason ? `: ${m.reason}` : ': every channel failed'}` }) : null,
    mine && m.channelNote && status !== 'failed' ? el('p.channel-note', { text: `Not delivered on ${m.channelNote}` }) : null,
    el('span.meta', {},
      m.created_at ? el('time', { datetime: m.created_at, text: time(m.created_at) }) : null,
      status ? el(`span.tick.${status}`, { title: tickLabel, 'aria-label': tickLabel, text: tick }) : null));
}

function renderFile(f) {
  const box = el('div.file', {});
  const info = state.files.get(f.id);
  const label = `${f.filename} · ${bytes(f.size)}`;
  if (!info) {
    box.append(el('span.file-name', {}, icon('file'), label));
    fetchFileInfo(f.id);
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
function keepAtBottom() {
  const list = $('#messages');
  if (list && state.current?.stickToBottom) list.scrollTop = list.scrollHeight;
}

// History does not say why a message was rejected; its sender may ask.
function fetchReason(m) {
  if (m.reasonAsked) return null;
  m.reasonAsked = true;
  API.get(`/v1/messages/${m.id}`).then((full) => {
    const why = full.moderation?.reason || full.moderation?.category;
    if (why) {
      m.reason = why;
      renderMessages();
    }
  }).catch(() => {});
  return null;
}

async function fetchFileInfo(id) {
  if (state.files.has(id)) return;
  state.files.set(id, null);
  try {
    state.files.set(id, await API.get(`/v1/files/${id}`));
    renderMessages();
  } catch {
    state.files.delete(id);
  }
}

// ------------------------------------------------------------- sending

function sendText() {
  const input = $('#composer-text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send({ text });
}

// Shown at once as `sending`; the same client_id on a retry makes the
// server answer the first message instead of making a second.
async function send(body, clientId = newClientId()) {
  const cur = state.current;
  if (!cur) return;
  const local = {
    client_id: clientId, conversation_id: cur.id, sender_id: state.me.id, text: body.text,
    file: body.file, created_at: new Date().toISOString(), local: 'sending', pendingBody: body,
  };
  if (!cur.messages.has(`c:${clientId}`) && ![...cur.messages.values()].some((m) => m.client_id === clientId)) {
    cur.messages.set(`c:${clientId}`, local);
  } else {
    const m = cur.messages.get(`c:${clientId}`);
    if (m) m.local = 'sending';
  }
  renderMessages();
  $('#messages').scrollTop = $('#messages').scrollHeight;
  const payload = { client_id: clientId };
  if (body.text) payload.text = body.text;
  if (body.file_id) payload.file_id = body.file_id;
  try {
    const m = await API.post(`/v1/conversations/${cur.id}/messages`, payload);
    upsertMessage(m);
  } catch (e) {
    const m = cur.messages.get(`c:${clientId}`);
    if (m) m.local = 'failed';
    renderMessages();
    if (e instanceof API.ApiError && e.status < 500 && e.status !== 429) toast(problemText(e), 'error');
  }
}

// ------------------------------------------------------------- receipts

function markDelivered(convId, seq) {
  if (!seq || (state.deliveredSent.get(convId) || 0) >= seq) return;
  state.deliveredSent.set(convId, seq);
  API.post(`/v1/conversations/${convId}/receipts`, { delivered_seq: seq }).catch(() => {});
}

// Read means seen: a message of someone else that is on screen, in a
// visible tab.
function onVisible(entries) {
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
  if (document.visibilityState === 'visible' && state.current) renderMessages();
});

// -------------------------------------------------------------- files

function uploadFile(file) {
  const cur = state.current;
  if (!cur) return;
  const bar = el('progress', { max: 100, value: 0, 'aria-label': `Uploading ${file.name}` });
  const label = el('span.upload-name', { text: `${file.name} · ${bytes(file.size)}` });
  const status = el('span.muted', { text: 'uploading…' });
  const row = el('div.upload', { role: 'group', 'aria-label': `Upload of ${file.name}` }, label, bar, status);
  const upload = new window.tus.Upload(file, {
    endpoint: '/v1/files',
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    metadata: { filename: file.name, filetype: file.type || '' },
    removeFingerprintOnSuccess: true,
    // the token may have been refreshed since the upload began
    onBeforeRequest: (req) => req.setHeader('Authorization', `Bearer ${API.accessToken()}`),
    onProgress: (sent, total) => {
      bar.value = total ? Math.floor((sent * 100) / total) : 100;
    },
    onError: (e) => {
      status.textContent = 'failed';
      row.classList.add('bad');
      row.append(el('button.link', { type: 'button', text: 'retry', on: { click: () => { row.remove(); uploadFile(file); } } }));
      toast(`Upload of ${file.name} failed: ${e.message || e}`, 'error');
    },
    onSuccess: async () => {
      const id = upload.url.split('/').pop();
      status.textContent = 'checking…';
      const info = await waitReady(id);
      if (!info || info.status !== 'ready') {
        status.textContent = 'the file arrived damaged; try again';
        row.classList.add('bad');
        return;
      }
      state.files.set(id, info);
      row.remove();
      if (state.current === cur) send({ file_id: id, file: info });
    },
  });
  $('#uploads').append(row);
  // resume an upload of the same file that a reload or a dropped network cut short
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

async function waitReady(id) {
  for (let i = 0; i < 600; i++) {
    try {
      const info = await API.get(`/v1/files/${id}`);
      if (info.status !== 'verifying' && info.status !== 'uploading') return info;
    } catch {
      /* keep asking */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return null;
}

// ------------------------------------------------------------- members

async function membersDialog() {
  const cur = state.current;
  const conv = await API.get(`/v1/conversations/${cur.id}`);
  cur.conv = conv;
  const meAdmin = conv.members.some((m) => m.user_id === state.me.id && m.role === 'admin');
  const list = el('ul.members');
  const error = el('p.form-error', { role: 'alert' });
  const render = () => clear(list, cur.conv.members.map((m) => el('li', {},
    el('span.avatar', { 'aria-hidden': 'true', text: initials(m.display_name || m.username) }),
    el('span.grow', {}, m.display_name || m.username, ' ', el('span.muted', { text: `@${m.username}${m.role === 'admin' ? ' · admin' : ''}` })),
    (meAdmin && m.user_id !== state.me.id) || m.user_id === state.me.id
      ? el('button.link', {
        type: 'button', text: m.user_id === state.me.id ? 'Leave' : 'Remove',
        on: {
          click: async () => {
            try {
              await API.api('DELETE', `/v1/conversations/${cur.id}/members/${m.user_id}`);
              if (m.user_id === state.me.id) {
                dialog.close();
                state.conversations.delete(cur.id);
                closeChat();
                return;
              }
              cur.conv = await API.get(`/v1/conversations/${cur.id}`);
              render();
            } catch (e) {
              error.textContent = problemText(e);
            }
          },
        },
      }) : null)));
  const addMember = async (u) => {
    try {
      await API.post(`/v1/conversations/${cur.id}/members`, { user_id: u.id });
      cur.conv = await API.get(`/v1/conversations/${cur.id}`);
      render();
    } catch (err) {
      error.textContent = problemText(err);
    }
  };
  const dialog = el('dialog.dialog', { 'aria-labelledby': 'members-title' },
    el('h2#members-title', { text: 'Members' }), list,
    ...(meAdmin ? peoplePicker('member-search', 'Add someone',
      (u) => cur.conv.members.some((m) => m.user_id === u.id), addMember,
      (u) => `Add ${u.display_name || u.username}`) : []),
    error,
    el('div.dialog-actions', {}, el('button.primary', { type: 'button', text: 'Done', on: { click: () => dialog.close() } })));
  render();
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// ------------------------------------------------------------- events

function onEvent(name, d) {
  const cur = state.current;
  switch (name) {
    case 'message': {
      const item = state.conversations.get(d.conversation_id);
      if (!item) {
        loadConversations();
        break;
      }
      item.last_message = d;
      item.last_activity = d.created_at;
      if (d.sender_id !== state.me.id && d.seq > (item.read_seq || 0) && cur?.id !== d.conversation_id) {
        item.unread_count = (item.unread_count || 0) + 1;
      }
      if (d.sender_id !== state.me.id) markDelivered(d.conversation_id, d.seq);
      if (cur?.id === d.conversation_id) upsertMessage(d);
      renderConversations();
      break;
    }
    case 'status': {
      if (cur?.id !== d.conversation_id) break;
      const m = cur.messages.get(d.message_id);
      if (!m) break;
      if (['sent', 'held', 'rejected', 'pending'].includes(d.status)) m.status = d.status;
      if (d.status === 'failed' && d.channel) {
        // one channel's delivery failed: the message may have reached others
        if (d.reason) m.channelNote = `${d.channel}: ${d.reason}`;
        renderMessages();
        break;
      }
      if (rank(d.status) > rank(m.statusEvent || 'failed')) m.statusEvent = d.status;
      if (d.reason) m.reason = d.reason;
      renderMessages();
      break;
    }
    case 'receipt': {
      if (cur?.id !== d.conversation_id) break;
      const member = cur.conv.members.find((x) => x.user_id === d.user_id);
      if (member) {
        member.delivered_seq = Math.max(member.delivered_seq, d.delivered_seq);
        member.read_seq = Math.max(member.read_seq, d.read_seq);
      }
      renderMessages();
      break;
    }
    case 'typing': {
      if (cur?.id !== d.conversation_id || d.user_id === state.me.id) break;
      clearTimeout(state.typing.get(d.user_id));
      state.typing.set(d.user_id, setTimeout(() => {
        state.typing.delete(d.user_id);
        showTyping();
      }, TYPING_SHOWN_MS));
      showTyping();
      break;
    }
    case 'conversation':
      loadConversations();
      if (cur?.id === d.id && d.change !== 'created') {
        API.get(`/v1/conversations/${d.id}`).then((c) => {
          if (state.current === cur) cur.conv = c;
        }).catch(() => closeChat());
      }
      break;
    case 'file':
      if (state.files.has(d.id)) state.files.delete(d.id);
      break;
    case 'reset':
      loadConversations();
      if (cur) openConversation(cur.id);
      break;
    default:
      break;
  }
}

function showTyping() {
  const t = $('#typing');
  const cur = state.current;
  if (!t || !cur) return;
  const names = [...state.typing.keys()].map(nameOf);
  t.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`
    : convSubtitle(cur.conv);
  t.classList.toggle('typing', names.length > 0);
}

// --------------------------------------------------------------- admin

async function showAdmin() {
  state.current = null;
  document.body.classList.add('in-chat');
  renderConversations();
  const held = el('ul.review', { 'aria-label': 'Held messages' });
  const dead = el('ul.review', { 'aria-label': 'Dead jobs' });
  clear($('#pane'),
    el('section.admin', { 'aria-labelledby': 'admin-title' },
      el('header.chat-head', {},
        el('button.ghost.back', { type: 'button', 'aria-label': 'Back to conversations', text: '‹', on: { click: closeChat } }),
        el('h2#admin-title', { text: 'Review' })),
      el('div.admin-body', {},
        el('h3', { text: 'Messages held for review' }), held,
        el('h3', { text: 'Jobs that gave up' }), dead)));
  const load = async () => {
    try {
      const h = await API.get('/v1/admin/moderation?status=held&limit=100');
      clear(held, h.items.length ? h.items.map((m) => el('li.review-item', {},
        el('p.text', { text: m.text || '(a file)' }),
        el('p.muted', { text: `${m.category || 'flagged'} · ${time(m.created_at)}` }),
        el('div.row', {},
          el('button.primary.small', { type: 'button', text: 'Approve', on: { click: () => decide(m.id, 'approve') } }),
          el('button.danger.small', { type: 'button', text: 'Reject', on: { click: () => decide(m.id, 'reject') } }))))
        : el('li.hint', { text: 'Nothing is waiting. 🎉' }));
      const j = await API.get('/v1/admin/jobs/dead?limit=100');
      clear(dead, j.items.length ? j.items.map((x) => el('li.review-item', {},
        el('p', {}, el('strong', { text: x.kind }), ' ', el('span.muted', { text: `${x.key} · ${x.attempts} attempts` })),
        el('p.muted', { text: x.last_error || '' }),
        el('button.primary.small', { type: 'button', text: 'Retry', on: { click: () => retry(x.id) } })))
        : el('li.hint', { text: 'No dead jobs.' }));
    } catch (e) {
      toast(problemText(e), 'error');
    }
  };
  const decide = async (id, verdict) => {
    try {
      await API.post(`/v1/admin/moderation/${id}`, { verdict });
      toast(verdict === 'approve' ? 'Approved: it goes out now.' : 'Rejected.');
      load();
    } catch (e) {
      toast(problemText(e), 'error');
    }
  };
  const retry = async (id) => {
    try {
      await API.post(`/v1/admin/jobs/dead/${id}/retry`);
      toast('Back in the queue.');
      load();
    } catch (e) {
      toast(problemText(e), 'error');
    }
  };
  load();
}

// ---------------------------------------------------------------- boot

API.onSignedOut(() => showAuth('signin', 'Your session ended. Please sign in again.'));

(async function boot() {
  if (API.hasSession()) {
    try {
      await API.refresh();
      await showMain();
      return;
    } catch {
      /* fall through to sign-in */
    }
  }
  showAuth();
})();
