// view-auth.js - signing in and signing up.

import * as API from './api.js';
import { el, clear } from './dom.js';
import { state, app, problemText } from './state.js';
import { showMain } from './view-shell.js';

export function showAuth(mode = 'signin', note = '') {
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
