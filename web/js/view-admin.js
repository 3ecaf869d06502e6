// view-admin.js - the admin's review: held messages and dead jobs.

import * as API from './api.js';
import { el, clear, $, time } from './dom.js';
import { state, toast, problemText } from './state.js';
import { closeChat } from './view-chat.js';
import { renderConversations } from './view-conversations.js';

export async function showAdmin() {
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
