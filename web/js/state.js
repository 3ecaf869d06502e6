// state.js - what the web UI knows while it runs (who is signed in, the
// conversations, the open one), and the small helpers every view uses.

import * as API from './api.js';
import { el, $ } from './dom.js';

export const PAGE = 50; // messages a history page asks for
export const TYPING_EVERY_MS = 3000; // at most one "typing" a conversation this often
export const TYPING_SHOWN_MS = 4000; // how long someone's "typing…" stays

export const state = {
  me: null,
  conversations: new Map(), // id → list item (API shape)
  current: null, // { id, conv (GET shape), timeline (messages.js) }
  live: null,
  files: new Map(), // file id → GET /v1/files/{id} (with its signed url)
  typing: new Map(), // user id → timer
  lastTypingSent: 0,
  readTimer: null,
  deliveredSent: new Map(), // conversation id → seq
};

export const app = $('#app');

export function newClientId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function nameOf(userId) {
  const m = state.current?.conv.members?.find((x) => x.user_id === userId);
  if (m) return m.display_name || m.username;
  if (userId === state.me?.id) return state.me.display_name || state.me.username;
  return 'someone';
}

export function convTitle(c) {
  if (c.type === 'group') return c.title || 'Group';
  return c.peer ? c.peer.display_name || c.peer.username : 'Conversation';
}

// Under the title: a group's size, or where a contact lives ("on WhatsApp ·
// 5511…": a contact's username is channel:address).
const CHANNEL_NAMES = { whatsapp: 'WhatsApp', telegram: 'Telegram', messenger: 'Messenger', instagram: 'Instagram' };

export function convSubtitle(conv) {
  if (conv.type === 'group') return `${conv.members.length} members`;
  const other = conv.members?.find((m) => m.user_id !== state.me?.id);
  const [channel, ...rest] = (other?.username || '').split(':');
  return rest.length && CHANNEL_NAMES[channel] ? `on ${CHANNEL_NAMES[channel]} · ${rest.join(':')}` : '';
}

export function toast(text, kind = 'info') {
  const t = el(`div.toast.${kind}`, { role: kind === 'error' ? 'alert' : 'status', text });
  $('#toasts')?.append(t);
  setTimeout(() => t.remove(), 5000);
}

export function problemText(e) {
  if (e instanceof API.ApiError) {
    const f = (e.problem.errors || []).map((x) => `${x.field}: ${x.message}`).join('; ');
    return f || e.message;
  }
  return 'The server could not be reached. Check your connection.';
}

export function debounce(fn, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}
