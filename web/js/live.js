// live.js - the live path: one EventSource on /v1/stream. EventSource
// cannot send headers, so each connection takes a single-use ticket; for
// the same reason it cannot reconnect by itself (the ticket is spent), so
// we do, with backoff, naming the last event we had (?last_event_id=):
// the gateway replays exactly what we missed. A `reset` means the gap was
// too long: the app reloads what it shows from the REST API. A stream
// lives no longer than the sign-in it was opened with: `revoked` ends it
// (expired: we take a new ticket with the refreshed token and resume;
// signed-out or too-many-streams: we stop and tell the app).

import { post } from './api.js';

const EVENTS = ['message', 'status', 'receipt', 'typing', 'conversation', 'file', 'reset'];

export class Live {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.lastId = null;
    this.source = null;
    this.retry = 0;
    this.stopped = false;
    this.timer = null;
  }

  async start() {
    this.stopped = false;
    clearTimeout(this.timer);
    try {
      const { ticket } = await post('/v1/stream/ticket');
      if (this.stopped) return;
      let url = `/v1/stream?ticket=${encodeURIComponent(ticket)}`;
      if (this.lastId) url += `&last_event_id=${encodeURIComponent(this.lastId)}`;
      const source = new EventSource(url);
      this.source = source;
      source.onopen = () => {
        this.retry = 0;
        this.onState('live');
      };
      source.onerror = () => {
        // a spent ticket cannot reconnect: start over with a new one
        source.close();
        if (this.source === source) this.later();
      };
      source.addEventListener('revoked', (e) => {
        let reason = '';
        try {
          reason = JSON.parse(e.data).reason;
        } catch {
          /* an ending all the same */
        }
        source.close();
        if (this.source !== source) return;
        if (reason === 'expired') {
          this.retry = 0;
          this.start();
        } else {
          this.stop();
          this.onState(reason === 'signed-out' ? 'signed-out' : 'elsewhere');
        }
      });
      for (const name of EVENTS) {
        source.addEventListener(name, (e) => {
          if (e.lastEventId) this.lastId = e.lastEventId;
          let data = null;
          try {
            data = e.data ? JSON.parse(e.data) : null;
          } catch {
            return;
          }
          this.onEvent(name, data);
        });
      }
    } catch {
      this.later();
    }
  }

  later() {
    if (this.stopped) return;
    this.onState('reconnecting');
    const delay = Math.min(30000, 500 * 2 ** this.retry++) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => this.start(), delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }
}
