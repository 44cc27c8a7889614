// Passkeys on the hosted sign-up and sign-in pages (the section of templates/ui/slots/passkeys.html).
// WebAuthn needs JavaScript, so the section stays hidden without it or without browser support;
// every other way in works without this file. The ceremony runs against the native JSON routes
// (`…/api/auth/passkey/…`): options in the WebAuthn JSON encoding, the credential back as its
// JSON; the session cookies they set are the pages' session too.
(() => {
  "use strict";
  const section = document.querySelector("section[data-passkey]");
  if (!section || !window.PublicKeyCredential || !navigator.credentials) return;
  const d = section.dataset;
  const button = document.getElementById("passkey-button");
  const error = document.getElementById("passkey-error");
  section.hidden = false;

  // base64url without padding, for browsers without the JSON helpers.
  const decode = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  };
  const encode = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));

  const creationOptions = (json) =>
    PublicKeyCredential.parseCreationOptionsFromJSON
      ? PublicKeyCredential.parseCreationOptionsFromJSON(json)
      : {
          ...json,
          challenge: decode(json.challenge),
          user: { ...json.user, id: decode(json.user.id) },
          excludeCredentials: descriptors(json.excludeCredentials),
        };
  const requestOptions = (json) =>
    PublicKeyCredential.parseRequestOptionsFromJSON
      ? PublicKeyCredential.parseRequestOptionsFromJSON(json)
      : { ...json, challenge: decode(json.challenge), allowCredentials: descriptors(json.allowCredentials) };

  const credentialJSON = (credential) => {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      response.userHandle = r.userHandle ? encode(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    };
  };

  // The sign-up form's solved proof of work (ALTCHA widget), when the project asks for one.
  const botCheck = () => {
    const field = document.querySelector('input[name="altcha"]');
    return field && field.value ? { "x-altcha": field.value } : {};
  };

  const post = async (path, body) => {
    const response = await fetch(d.api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", ...botCheck() },
      body: JSON.stringify(body),
    });
    let json = null;
    try {
      json = await response.json();
    } catch {}
    return { ok: response.ok, json };
  };

  const show = (message) => {
    error.textContent = message;
    error.hidden = false;
    button.disabled = false;
  };
  const refusal = (json) => {
    const e = json && json.error;
    if (!e) return d.msgFailed;
    if (e.code === "EMAIL_EXISTS") return d.msgTaken;
    if (e.code === "VALIDATION_ERROR" && e.details && e.details[0]) return e.details[0].message;
    return d.msgFailed;
  };

  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    const signUp = d.passkey === "sign-up";
    const path = signUp ? "/passkey/sign-up" : "/passkey/sign-in";
    let body = {};
    if (signUp) {
      const email = document.getElementById("email");
      const name = document.getElementById("name");
      if (!email || !email.value.trim()) {
        show(d.msgEmail);
        if (email) email.focus();
        return;
      }
      body = { email: email.value.trim() };
      if (name && name.value.trim()) body.name = name.value.trim();
    }
    try {
      const started = await post(path + "/options", body);
      if (!started.ok) return show(refusal(started.json));
      const publicKey = started.json.data.publicKey;
      const credential = signUp
        ? await navigator.credentials.create({ publicKey: creationOptions(publicKey) })
        : await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
      const finished = await post(path, credentialJSON(credential));
      if (!finished.ok) return show(refusal(finished.json));
      const returnTo = document.querySelector('input[name="return_to"]');
      const query = returnTo && returnTo.value ? "?return_to=" + encodeURIComponent(returnTo.value) : "";
      window.location.assign(d.welcome + query);
    } catch {
      // Cancelled, timed out, or no passkey on this device.
      show(d.msgFailed);
    }
  });
})();
