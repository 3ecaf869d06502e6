// view-conversations.js - the sidebar's conversation list, finding people,
// starting a private conversation or a group.

import * as API from './api.js';
import { el, clear, $, time, initials } from './dom.js';
import { state, convTitle, toast, problemText, debounce } from './state.js';
import { openConversation } from './view-chat.js';

export async function loadConversations() {
  const list = await API.get('/v1/conversations?limit=100');
  state.conversations.clear();
  for (const c of list.items) state.conversations.set(c.id, c);
  renderConversations();
}

export function renderConversations() {
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

export async function searchPeople(q) {
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

export async function startPrivate(user) {
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
export function peoplePicker(id, labelText, exclude, pick, pickText) {
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

export function newGroupDialog() {
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
