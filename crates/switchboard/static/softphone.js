// The Calls page's softphone. The browser dials and rings through Twilio's Voice SDK
// (vendored at static/vendor, served by us); "Ring my phone" asks the server for a
// click-to-call and follows the call's record until it ends. Without this file the
// dialer's form still places click-to-calls.
(() => {
  "use strict";
  const root = document.getElementById("softphone");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const stateBox = $("call-state");
  const stateText = $("call-state-text");
  const timer = $("call-timer");
  const to = $("to");
  const from = $("fromNumber");
  const dialer = $("dialer");
  const callBrowser = $("call-browser");
  const hangUp = $("hang-up");
  const mute = $("mute");
  const incoming = $("incoming");

  let device = null;
  let registered = false;
  // A click-to-call this page follows (or followed): the state box is its, and the
  // SDK's own troubles must not write over it.
  let phoneCall = null;
  let call = null;
  let ticking = null;

  const LIVE = ["connecting", "ringing", "in-call"];

  // idle | connecting | ringing | in-call | ended | error
  function show(kind, text) {
    stateBox.dataset.state = kind;
    stateText.textContent = text;
    const live = LIVE.includes(kind);
    hangUp.hidden = !(live && call);
    mute.hidden = !(kind === "in-call" && call);
    callBrowser.disabled = live || !registered;
    timer.hidden = kind !== "in-call" && !(kind === "ended" && timer.textContent !== "0:00");
    if (kind === "in-call") startTimer();
    if (!live) stopTimer();
  }

  function startTimer() {
    if (ticking) return;
    const started = Date.now();
    timer.textContent = "0:00";
    ticking = setInterval(() => {
      timer.textContent = mmss(Math.floor((Date.now() - started) / 1000));
    }, 500);
  }

  function stopTimer() {
    clearInterval(ticking);
    ticking = null;
  }

  function mmss(seconds) {
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  // Paste-friendly: "(555) 123-4567", "555.123.4567", "1-555-123-4567" → +15551234567.
  function e164(raw) {
    const text = raw.trim();
    const digits = text.replace(/\D/g, "");
    if (text.startsWith("+")) return digits.length >= 8 && digits.length <= 15 ? `+${digits}` : null;
    if (digits.length === 10) return `+1${digits}`;
    if (digits.length === 11 && digits.startsWith("1")) return `+${digits}`;
    return null;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const fields = data && data.error && data.error.fields;
      const reason = fields ? Object.values(fields).join(" ") : (data.error && data.error.message);
      const error = new Error(reason || `the server answered ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // What an SDK error means to the person at the keyboard.
  function describe(error) {
    const code = error && error.code;
    const name = (error && error.name) || "";
    if (code === 31401 || code === 31208 || name === "NotAllowedError") {
      return "The microphone is blocked: allow it for this site to call from the browser.";
    }
    if (code === 20104 || code === 31205) return "Your calling token expired; getting a new one…";
    if ([31000, 31005, 31009, 53000, 53001].includes(code)) {
      return "Twilio is unreachable: browser calls cannot be placed or received right now. Ring my phone still works.";
    }
    if (code === 31486) return "The customer's line is busy.";
    if (code === 31480) return "The customer did not answer.";
    const message = (error && (error.explanation || error.message)) || "unknown error";
    return code ? `The call failed: ${message} (Twilio error ${code}).` : `The call failed: ${message}.`;
  }

  async function freshToken() {
    const issued = await post("/api/twilio/access-token");
    root.dataset.identity = issued.identity;
    return issued.token;
  }

  async function setUpDevice() {
    if (!window.Twilio || !window.Twilio.Device) {
      show("idle", "The browser softphone did not load; Ring my phone still works.");
      return;
    }
    let token;
    try {
      token = await freshToken();
    } catch (error) {
      // Not configured for browser calls (no API key or TwiML App): say what is missing.
      root.dataset.device = "unavailable";
      show("idle", `Browser calling is off: ${error.message}`);
      return;
    }
    device = new window.Twilio.Device(token, { closeProtection: true, logLevel: "silent" });
    root.dataset.device = "created";
    callBrowser.hidden = false;
    show("connecting", "Connecting to Twilio…");
    const unreachable = () => {
      if (registered) return;
      root.dataset.device = "unreachable";
      if (phoneCall) return;
      show("error", describe({ code: 31005 }));
    };
    // The SDK retries its websocket for a long time; say so after a few seconds.
    const patience = setTimeout(unreachable, 8000);
    device.on("registered", () => {
      clearTimeout(patience);
      registered = true;
      root.dataset.device = "registered";
      show("idle", "Ready: call from the browser, or ring your phone.");
    });
    device.on("unregistered", () => {
      registered = false;
    });
    device.on("error", (error) => {
      if (error && (error.code === 20104 || error.code === 31205)) {
        freshToken().then((t) => device.updateToken(t)).catch(unreachable);
        return;
      }
      if (!registered) {
        clearTimeout(patience);
        unreachable();
      } else {
        show("error", describe(error));
      }
    });
    device.on("tokenWillExpire", () => {
      freshToken()
        .then((t) => device.updateToken(t))
        .catch((error) => show("error", `Your calling token could not be renewed: ${error.message}`));
    });
    device.on("incoming", ringIn);
    try {
      await device.register();
    } catch (error) {
      clearTimeout(patience);
      unreachable();
    }
  }

  function follow(c, number) {
    call = c;
    c.on("ringing", () => show("ringing", `Ringing ${number}…`));
    c.on("accept", () => show("in-call", `In call with ${number}`));
    c.on("disconnect", () => {
      call = null;
      show("ended", "Call ended.");
    });
    c.on("cancel", () => {
      call = null;
      show("ended", "The call was cancelled.");
    });
    c.on("reject", () => {
      call = null;
      show("ended", "The call was rejected.");
    });
    c.on("error", (error) => show("error", describe(error)));
  }

  function ringIn(c) {
    const caller = (c.parameters && c.parameters.From) || "a caller";
    $("incoming-text").textContent = `Incoming call from ${caller}`;
    incoming.hidden = false;
    const done = () => {
      incoming.hidden = true;
    };
    c.on("cancel", () => {
      done();
      show("ended", `Missed call from ${caller}.`);
    });
    $("accept").onclick = () => {
      done();
      follow(c, caller);
      c.accept();
    };
    $("reject").onclick = () => {
      done();
      c.reject();
      show("idle", "Call rejected.");
    };
  }

  callBrowser.addEventListener("click", async () => {
    const number = e164(to.value);
    if (!number) {
      show("error", "Enter a phone number such as (555) 123-4567.");
      to.focus();
      return;
    }
    show("connecting", `Calling ${number}…`);
    try {
      const c = await device.connect({ params: { To: number, FromNumber: from ? from.value : "" } });
      follow(c, number);
    } catch (error) {
      call = null;
      show("error", describe(error));
    }
  });

  hangUp.addEventListener("click", () => {
    if (call) call.disconnect();
  });

  mute.addEventListener("click", () => {
    if (!call) return;
    const muted = !call.isMuted();
    call.mute(muted);
    mute.setAttribute("aria-pressed", String(muted));
    mute.textContent = muted ? "Unmute" : "Mute";
  });

  // Digits go to the call while one is live (DTMF), else into the number.
  document.querySelectorAll("#keypad .key").forEach((key) => {
    key.addEventListener("click", () => {
      if (call && stateBox.dataset.state === "in-call") {
        call.sendDigits(key.dataset.key);
      } else {
        to.value += key.dataset.key;
        to.focus();
      }
    });
  });

  // A contact picked from the suggestions, or a pasted number, reads as E.164.
  to.addEventListener("change", () => {
    const number = e164(to.value);
    if (number) to.value = number;
  });

  // Click-to-call: ask the server, then follow the call's record until it ends.
  dialer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = e164(to.value) || to.value.trim();
    phoneCall = "placing";
    show("connecting", "Ringing your phone…");
    try {
      const placed = await post("/api/twilio/make-call", { to: number, fromNumber: from ? from.value : undefined });
      root.dataset.placed = placed.callSid;
      watch(placed.callSid);
    } catch (error) {
      phoneCall = null;
      show("error", `The call could not be placed: ${error.message}`);
    }
  });

  const FINAL = ["completed", "busy", "no-answer", "failed", "canceled"];

  async function watch(callSid) {
    phoneCall = callSid;
    const until = Date.now() + 15 * 60 * 1000;
    let shown = "";
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let log;
      try {
        const response = await fetch(`/api/twilio/call-logs/${encodeURIComponent(callSid)}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) continue;
        log = await response.json();
      } catch (error) {
        continue;
      }
      let kind;
      let text;
      if (FINAL.includes(log.status)) {
        kind = "ended";
        text = log.outcome === "answered"
          ? `Call ended: answered, ${mmss(log.duration || 0)} talk.`
          : "Call ended: not answered.";
      } else if (["in-progress", "answered", "completed"].includes(log.dialCallStatus)) {
        kind = "in-call";
        text = `In call with ${log.to || "the customer"}`;
      } else if (log.status === "in-progress") {
        kind = "ringing";
        text = `Calling ${log.to || "the customer"}…`;
      } else {
        kind = "ringing";
        text = "Ringing your phone…";
      }
      if (kind + text !== shown) {
        show(kind, text);
        shown = kind + text;
      }
      if (kind === "ended") {
        root.dataset.ended = callSid;
        return;
      }
    }
  }

  if (root.dataset.placed) watch(root.dataset.placed);
  setUpDevice();
})();
