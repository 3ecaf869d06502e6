// events.js - what the live connection (live.js) says, applied to the views.

import * as API from './api.js';
import { TYPING_SHOWN_MS, state } from './state.js';
import { openConversation, closeChat, upsertMessage, messagesChanged, markDelivered, showTyping } from './view-chat.js';
import { loadConversations, renderConversations } from './view-conversations.js';

export function onEvent(name, d) {
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
      if (cur?.timeline.applyStatus(d)) messagesChanged();
      break;
    }
    case 'receipt': {
      if (cur?.id !== d.conversation_id) break;
      const member = cur.conv.members.find((x) => x.user_id === d.user_id);
      if (member) {
        member.delivered_seq = Math.max(member.delivered_seq, d.delivered_seq);
        member.read_seq = Math.max(member.read_seq, d.read_seq);
      }
      messagesChanged();
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
