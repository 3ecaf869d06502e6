// app.js - the Chat4All web UI's entry: it boots into the signed-in page or
// the sign-in form. Plain modern JavaScript modules, no build step; data
// reaches the page only as text nodes (dom.js), never as HTML. One module
// per view (view-*.js), the shared state in state.js, the messages' state
// in messages.js (tested under node: tests/web/).

import * as API from './api.js';
import { showAuth } from './view-auth.js';
import { showMain } from './view-shell.js';

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
