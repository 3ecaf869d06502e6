// messages.js - one conversation's messages as the UI knows them, and what
// each message of mine shows. No DOM and no network here: copies of a
// message arrive from several places (a history page, the POST's answer,
// the stream's `message` and `status` events, a local one shown while it
// is being sent), in any order, and this is the one place that merges them.
// tests/web/messages.test.mjs runs it under node.

// A status only moves forward: an older copy (the POST's answer after the
// stream's status event) never takes a message back to pending.
const PROGRESS = { pending: 0, held: 1, rejected: 2, sent: 2, failed: 2 };
// What the sender was told, weakest first.
const RANKS = ['failed', 'pending', 'held', 'rejected', 'sent', 'delivered', 'read'];
const rank = (s) => RANKS.indexOf(s);

export class Timeline {
  constructor(conversationId, meId) {
    this.conversationId = conversationId;
    this.meId = meId;
    this.byKey = new Map(); // id once the server named it, else c:<client_id>
    this.newest = 0; // the highest seq seen
    this.oldest = null; // the lowest seq of the pages read (the next page is before it)
    this.done = false; // the first message was read
  }

  get(id) {
    return this.byKey.get(id);
  }

  // A copy of a message from the server: merged with what is known of it
  // (by id, or by client_id for one of mine still being sent). Returns the
  // merged message, or null when it belongs to another conversation.
  upsert(m) {
    if (m.conversation_id !== this.conversationId) return null;
    let existing = this.byKey.get(m.id);
    if (!existing && m.client_id) existing = this.byKey.get(`c:${m.client_id}`);
    if (existing) {
      this.byKey.delete(`c:${existing.client_id}`);
      const merged = { ...existing, ...m, local: undefined };
      if ((PROGRESS[existing.status] || 0) > (PROGRESS[m.status] || 0)) merged.status = existing.status;
      if (existing.statusEvent && rank(existing.statusEvent) > rank(m.status)) merged.statusEvent = existing.statusEvent;
      m = merged;
    }
    this.byKey.set(m.id || `c:${m.client_id}`, m);
    if (m.seq) this.newest = Math.max(this.newest, m.seq);
    return m;
  }

  // A history page (newest first or not): its messages, and where the next
  // page starts. @pageSize tells whether it was the last.
  addPage(items, pageSize) {
    for (const m of items) this.upsert(m);
    if (items.length < pageSize) this.done = true;
    if (items.length) this.oldest = Math.min(...items.map((m) => m.seq));
  }

  // A send of mine, shown at once as `sending`; sent again with the same
  // client_id (a retry), the same message goes back to `sending`.
  sending(clientId, body, now = new Date()) {
    const known = this.byKey.get(`c:${clientId}`) || [...this.byKey.values()].find((m) => m.client_id === clientId);
    if (known) {
      if (known.local) known.local = 'sending';
      return known;
    }
    const local = {
      client_id: clientId, conversation_id: this.conversationId, sender_id: this.meId, text: body.text,
      file: body.file, created_at: now.toISOString(), local: 'sending', pendingBody: body,
    };
    this.byKey.set(`c:${clientId}`, local);
    return local;
  }

  // The POST did not answer, or refused: the local copy offers a retry.
  sendFailed(clientId) {
    const m = this.byKey.get(`c:${clientId}`);
    if (m) m.local = 'failed';
  }

  // A `status` event about a message of mine: true when it changed anything.
  applyStatus(d) {
    if (d.conversation_id !== this.conversationId) return false;
    const m = this.byKey.get(d.message_id);
    if (!m) return false;
    if (['sent', 'held', 'rejected', 'pending'].includes(d.status)) m.status = d.status;
    if (d.status === 'failed' && d.channel) {
      // one channel's delivery failed: the message may have reached the others
      if (d.reason) m.channelNote = `${d.channel}: ${d.reason}`;
      return true;
    }
    if (rank(d.status) > rank(m.statusEvent || 'failed')) m.statusEvent = d.status;
    if (d.reason) m.reason = d.reason;
    return true;
  }

  // In the order they are shown: by seq, the ones still without one last.
  sorted() {
    return [...this.byKey.values()].sort((a, b) => (a.seq || 1e18) - (b.seq || 1e18));
  }

  // What a message of mine shows: sending / failed while it is local, its
  // own status while it is not out (pending, held, rejected, failed), then
  // sent → delivered → read as every other member's horizon passes it, or
  // what a status event said when that is further.
  statusOf(m, members) {
    if (m.local) return m.local;
    if (['pending', 'held', 'rejected', 'failed'].includes(m.status)) return m.status;
    const others = members.filter((x) => x.user_id !== this.meId);
    let s = 'sent';
    if (others.length && m.seq <= Math.min(...others.map((x) => x.delivered_seq))) s = 'delivered';
    if (others.length && m.seq <= Math.min(...others.map((x) => x.read_seq))) s = 'read';
    if (m.statusEvent && rank(m.statusEvent) > rank(s)) s = m.statusEvent;
    return s;
  }
}
