// view-files.js - uploading a file (tus, resumable) and sending it.

import * as API from './api.js';
import { el, $, bytes } from './dom.js';
import { state, toast } from './state.js';
import { send } from './view-chat.js';

export function uploadFile(file) {
  const cur = state.current;
  if (!cur) return;
  const bar = el('progress', { max: 100, value: 0, 'aria-label': `Uploading ${file.name}` });
  const label = el('span.upload-name', { text: `${file.name} · ${bytes(file.size)}` });
  const status = el('span.muted', { text: 'uploading…' });
  const row = el('div.upload', { role: 'group', 'aria-label': `Upload of ${file.name}` }, label, bar, status);
  const upload = new window.tus.Upload(file, {
    endpoint: '/v1/files',
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    metadata: { filename: file.name, filetype: file.type || '' },
    removeFingerprintOnSuccess: true,
    // the token may have been refreshed since the upload began
    onBeforeRequest: (req) => req.setHeader('Authorization', `Bearer ${API.accessToken()}`),
    onProgress: (sent, total) => {
      bar.value = total ? Math.floor((sent * 100) / total) : 100;
    },
    onError: (e) => {
      status.textContent = 'failed';
      row.classList.add('bad');
      row.append(el('button.link', { type: 'button', text: 'retry', on: { click: () => { row.remove(); uploadFile(file); } } }));
      toast(`Upload of ${file.name} failed: ${e.message || e}`, 'error');
    },
    onSuccess: async () => {
      const id = upload.url.split('/').pop();
      status.textContent = 'checking…';
      const info = await waitReady(id);
      if (!info || info.status !== 'ready') {
        status.textContent = 'the file arrived damaged; try again';
        row.classList.add('bad');
        return;
      }
      state.files.set(id, info);
      row.remove();
      if (state.current === cur) send({ file_id: id, file: info });
    },
  });
  $('#uploads').append(row);
  // resume an upload of the same file that a reload or a dropped network cut short
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

export async function waitReady(id) {
  for (let i = 0; i < 600; i++) {
    try {
      const info = await API.get(`/v1/files/${id}`);
      if (info.status !== 'verifying' && info.status !== 'uploading') return info;
    } catch {
      /* keep asking */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return null;
}
