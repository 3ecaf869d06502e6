// view-shell.js - the signed-in page: the top bar, the sidebar, the pane,
// the live connection; signing out.

import * as API from './api.js';
import { Live } from './live.js';
import { el, clear, $, initials } from './dom.js';
import { onEvent } from './events.js';
import { state, app, debounce } from './state.js';
import { showAdmin } from './view-admin.js';
import { showAuth } from './view-auth.js';
import { loadConversations, searchPeople, newGroupDialog } from './view-conversations.js';

export async function showMain() {
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

export function emptyPane() {
  return el('div.empty', {},
    el('div.empty-art', { 'aria-hidden': 'true', text: '💬' }),
    el('h2', { text: 'Pick a conversation' }),
    el('p', { text: 'Or find someone with the search box and say hello.' }));
}

export async function signOut() {
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
