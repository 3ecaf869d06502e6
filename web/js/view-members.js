// view-members.js - a group's members: adding, removing, leaving.

import * as API from './api.js';
import { el, clear, initials } from './dom.js';
import { state, problemText } from './state.js';
import { closeChat } from './view-chat.js';
import { peoplePicker } from './view-conversations.js';

export async function membersDialog() {
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
