// Encrypts the chosen file in the browser to the space's age recipient, then uploads
// only the ciphertext with XHR. One progress bar covers encryption (0–50 %) and
// transfer (50–100 %). The server never receives plaintext.

const form = document.getElementById("upload-form");

function setStatus(text, isError = false) {
  const status = document.getElementById("upload-status");
  status.textContent = text;
  status.classList.toggle("form-errors", isError);
}

async function encryptFile(file, recipient, onProgress) {
  const { Encrypter } = await import(form.dataset.ageModule);
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipient);
  let read = 0;
  const counted = file.stream().pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        read += chunk.byteLength;
        onProgress(file.size ? read / file.size : 1);
        controller.enqueue(chunk);
      },
    }),
  );
  const encrypted = await encrypter.encrypt(counted);
  const parts = [];
  const reader = encrypted.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  onProgress(1);
  return new Blob(parts, { type: "application/octet-stream" });
}

function post(url, body, csrf, { contentType, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded);
      });
    }
    xhr.addEventListener("load", () => {
      let data = {};
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = {};
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else {
        const error = new Error(data.message || form.dataset.msgFailed);
        error.fatal = xhr.status >= 400 && xhr.status < 500;
        reject(error);
      }
    });
    xhr.addEventListener("error", () => reject(new Error(form.dataset.msgFailed)));
    xhr.send(body);
  });
}

// Large files travel in parts (the server never holds a whole body in memory); a part
// whose request fails on the network is sent again, up to three times.
async function send(startUrl, blob, meta, csrf, onProgress) {
  const session = await post(startUrl, JSON.stringify({ ...meta, size: blob.size }), csrf, {
    contentType: "application/json",
  });
  let sent = 0;
  for (let index = 0, offset = 0; offset < blob.size; index += 1) {
    const part = blob.slice(offset, offset + session.part_size);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await post(`${session.parts_url}${index}/`, part, csrf, {
          contentType: "application/octet-stream",
          onProgress: (loaded) => onProgress((sent + loaded) / blob.size),
        });
        break;
      } catch (error) {
        if (error.fatal || attempt >= 3) throw error;
      }
    }
    sent += part.size;
    offset += part.size;
  }
  return post(session.finish_url, null, csrf);
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) {
      setStatus(form.dataset.msgNojs, true);
      return;
    }
    if (file.size > Number(form.dataset.maxBytes)) {
      setStatus(form.dataset.msgTooLarge, true);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    const progress = document.getElementById("upload-progress");
    progress.hidden = false;
    progress.value = 0;
    button.disabled = true;
    const meta = { filename: file.name };
    const title = form.querySelector("[name=title]");
    if (title) {
      meta.title = title.value;
      meta.description = form.querySelector("[name=description]").value;
      meta.level = Number(form.querySelector("[name=level]").value);
      meta.tlp = form.querySelector("[name=tlp]").value;
      meta.recipients = Array.from(
        form.querySelector("[name=recipients]").selectedOptions,
        (option) => Number(option.value),
      );
    }
    try {
      setStatus(form.dataset.msgEncrypting);
      const blob = await encryptFile(file, form.dataset.recipient, (f) => {
        progress.value = Math.round(f * 50);
      });
      setStatus(form.dataset.msgUploading);
      const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
      const result = await send(form.dataset.startUrl, blob, meta, csrf, (f) => {
        progress.value = 50 + Math.round(f * 50);
      });
      progress.value = 100;
      setStatus(form.dataset.msgDone);
      window.location.assign(result.url);
    } catch (error) {
      setStatus(error.message, true);
      button.disabled = false;
    }
  });
}
