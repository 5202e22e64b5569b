/* Frontdesk web-chat widget. A site embeds it with
 *   <script src="https://API/v1/webchat/CHANNEL_ACCOUNT_ID/widget.js" async></script>
 * The API serves this file wrapped as `(function () { <this file> frontdeskWidget(CONFIG); })();`,
 * CONFIG being the channel account's look (brand colour, side, greeting) and this widget's CSS, so
 * the file only defines the one function. Plain ES2017, no build step.
 *
 * Delivery is exactly-once from the customer's point of view: every message gets a
 * client_message_id and stays in an outbox (kept in localStorage) until its reply arrives; after a
 * dropped connection the widget reconnects with backoff and resends the outbox with the same ids,
 * and the conversation workflow runs each id once, answering a resend with the first reply.
 */
function frontdeskWidget(config) {
  "use strict";

  var BASE_BACKOFF_MS = 500;
  var MAX_BACKOFF_MS = 30000;
  var STABLE_MS = 10000; // a connection that lasted this long resets the backoff
  var PING_MS = 25000; // idle proxies drop silent WebSockets; browsers cannot send a ping frame
  var KEPT = 100; // transcript entries kept for a reload
  var ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

  var script = document.currentScript;
  var socketUrl = new URL("ws", script && script.src ? script.src : config.script_url);
  socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
  var storagePrefix = "frontdesk:" + config.account_id + ":";

  if (document.querySelector('[data-frontdesk-widget="' + config.account_id + '"]')) {
    return; // the snippet pasted twice: one widget
  }

  // -- storage: a blocked localStorage (private mode, policies) only costs the reload memory ----
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(storagePrefix + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }
  function save(name, value) {
    try {
      window.localStorage.setItem(storagePrefix + name, JSON.stringify(value));
    } catch (e) {
      /* not kept across reloads; this page still works */
    }
  }
  function newId(kind) {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes); // unlike randomUUID, also on plain-http pages
    return kind + "-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  var sessionId = load("session", null);
  if (typeof sessionId !== "string" || !ID_PATTERN.test(sessionId)) {
    sessionId = newId("v");
    save("session", sessionId);
  }
  var outbox = asArray(load("outbox", [])); // sent, not answered yet: resent after each reconnect
  var transcript = asArray(load("transcript", []));
  var answered = {};
  var pushed = {}; // ids of messages the server pushed (a person's reply, a follow-up): shown once
  transcript.forEach(function (entry) {
    if (entry.in_reply_to) answered[entry.in_reply_to] = true;
    if (entry.pushed_id) pushed[entry.pushed_id] = true;
  });

  function asArray(value) {
    return Array.isArray(value) ? value : [];
  }
  function remember(entry) {
    transcript.push(entry);
    if (transcript.length > KEPT) transcript.splice(0, transcript.length - KEPT);
    save("transcript", transcript);
  }

  // -- the page: a shadow root keeps the site's CSS and ours apart ----------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text; // never innerHTML: replies are text
    return node;
  }

  function readableOn(hex) {
    var n = parseInt(hex.slice(1), 16);
    var channel = function (c) {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    };
    var luminance = 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
    return luminance > 0.4 ? "#111111" : "#ffffff";
  }

  var host = el("div", config.position === "left" ? "fd-left" : "fd-right");
  host.setAttribute("data-frontdesk-widget", config.account_id);
  host.style.setProperty("--fd-brand", config.brand_color);
  host.style.setProperty("--fd-on-brand", readableOn(config.brand_color));
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", null, config.css));

  var panel = el("div", "fd-panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", config.title);
  var header = el("div", "fd-header");
  var heading = el("span", null, config.title);
  var status = el("span", "fd-status");
  heading.appendChild(status);
  var closeButton = el("button", "fd-close", "\u00d7");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", "Close chat");
  header.appendChild(heading);
  header.appendChild(closeButton);

  var log = el("div", "fd-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "fd-typing");
  typing.hidden = true;
  typing.setAttribute("aria-label", "Typing");
  for (var i = 0; i < 3; i++) typing.appendChild(el("span"));
  log.appendChild(typing); // always last: messages go in before it

  var form = el("form", "fd-compose");
  var input = el("input", "fd-input");
  input.type = "text";
  input.maxLength = 4096;
  input.placeholder = "Type a message";
  input.setAttribute("aria-label", "Message");
  var sendButton = el("button", "fd-send", "Send");
  sendButton.type = "submit";
  form.appendChild(input);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);

  var bubble = el("button", "fd-bubble");
  bubble.type = "button";
  bubble.setAttribute("aria-label", "Open chat");
  bubble.innerHTML =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z"/></svg>';
  root.appendChild(panel);
  root.appendChild(bubble);

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }
  function addMessage(who, text, extraClass) {
    var node = el("div", "fd-msg fd-msg-" + who + (extraClass ? " " + extraClass : ""), text);
    log.insertBefore(node, typing);
    scrollDown();
    return node;
  }
  function addNote(text) {
    log.insertBefore(el("div", "fd-note", text), typing);
    scrollDown();
  }
  function showTyping(on) {
    typing.hidden = !on;
    if (on) scrollDown();
  }
  function setStatus(text) {
    status.textContent = text;
  }

  function addChoices(entry) {
    if (!entry.buttons.length) return;
    var group = el("div", "fd-buttons");
    group.setAttribute("role", "group");
    entry.buttons.forEach(function (choice) {
      var button = el("button", "fd-choice", choice.title);
      button.type = "button";
      button.disabled = Boolean(entry.chosen);
      if (choice.description) button.appendChild(el("small", null, choice.description));
      button.addEventListener("click", function () {
        entry.chosen = choice.id; // one answer per question, also after a reload
        save("transcript", transcript);
        Array.prototype.forEach.call(group.children, function (b) { b.disabled = true; });
        send(choice.title, choice.id);
      });
      group.appendChild(button);
    });
    log.insertBefore(group, typing);
    scrollDown();
  }

  function choicesOf(buttons) {
    return asArray(buttons).filter(function (b) {
      return b && typeof b.id === "string" && typeof b.title === "string";
    });
  }

  // -- the conversation ------------------------------------------------------------------------
  var socket = null;
  var reconnectTimer = null;
  var pingTimer = null;
  var attempts = 0;
  var openedAt = 0;
  var streaming = null; // the reply being written, token by token

  function transmit(entry) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(Object.assign({ type: "message" }, entry)));
    }
  }

  function send(text, replyPayload) {
    var entry = { client_message_id: newId("m"), text: text };
    if (replyPayload) entry.reply_payload = replyPayload;
    outbox.push(entry);
    save("outbox", outbox);
    remember({ who: "customer", text: text, id: entry.client_message_id });
    addMessage("customer", text).setAttribute("data-id", entry.client_message_id);
    connect();
    transmit(entry);
  }

  function connect() {
    if (socket || reconnectTimer) return; // open, opening, or waiting to retry
    openedAt = 0;
    var ws = new WebSocket(socketUrl.href + "?session_id=" + encodeURIComponent(sessionId));
    socket = ws;
    ws.onopen = function () {
      openedAt = Date.now();
      setStatus("");
      outbox.forEach(transmit); // same ids: the workflow answers each once
      pingTimer = setInterval(function () { transmit({ type: "ping" }); }, PING_MS);
    };
    ws.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      var handle = frame && Object.prototype.hasOwnProperty.call(handlers, frame.type) ? handlers[frame.type] : null;
      if (handle) handle(frame);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      if (openedAt && Date.now() - openedAt > STABLE_MS) attempts = 0;
      var delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * Math.pow(2, attempts));
      attempts += 1;
      setStatus("reconnecting\u2026");
      // Jitter: after a server restart, every open widget must not come back in the same instant.
      reconnectTimer = setTimeout(function () {
        reconnectTimer = null;
        connect();
      }, delay * (0.5 + Math.random() / 2));
    };
  }

  function pendingIndex(clientMessageId) {
    for (var k = 0; k < outbox.length; k++) {
      if (outbox[k].client_message_id === clientMessageId) return k;
    }
    return -1;
  }

  function onReply(frame) {
    var id = frame.in_reply_to;
    var index = pendingIndex(id);
    if (index < 0 && answered[id]) return; // a resent message answered again: shown once
    if (index >= 0) {
      outbox.splice(index, 1);
      save("outbox", outbox);
    }
    answered[id] = true;
    var text = typeof frame.text === "string" ? frame.text : "";
    var node = streaming;
    streaming = null;
    if (node) {
      node.classList.remove("fd-msg-streaming");
      if (text) node.textContent = text; // the reply as stored; some tokens may have been missed
      else node.remove();
    } else if (text) {
      addMessage("agent", text);
    }
    var entry = { who: "agent", text: text, in_reply_to: id, buttons: choicesOf(frame.buttons) };
    if (text || entry.buttons.length) remember(entry);
    addChoices(entry);
    showTyping(outbox.length > 0);
  }

  function onError(frame) {
    var index = pendingIndex(frame.client_message_id);
    if (index < 0) return; // about no message of ours (a ping the server did not know, say)
    var entry = outbox[index];
    if (frame.retry_after != null) {
      // Busy or not ready yet: the same id again later (it joins the turn already running).
      setTimeout(function () {
        if (pendingIndex(entry.client_message_id) >= 0) transmit(entry);
      }, Math.max(1, Number(frame.retry_after) || 1) * 1000);
      return;
    }
    outbox.splice(index, 1);
    save("outbox", outbox);
    var node = log.querySelector('[data-id="' + entry.client_message_id + '"]');
    if (node) node.classList.add("fd-msg-failed");
    addNote("Not sent: " + (frame.reason || "refused"));
    showTyping(outbox.length > 0);
  }

  var handlers = {
    typing: function () {
      if (outbox.length && !streaming) showTyping(true);
    },
    token: function (frame) {
      if (!outbox.length || typeof frame.text !== "string") return; // late tokens of a reply shown already
      showTyping(false);
      if (!streaming) streaming = addMessage("agent", "", "fd-msg-streaming");
      streaming.textContent += frame.text;
      scrollDown();
    },
    reply: onReply,
    message: function (frame) {
      if (typeof frame.text !== "string" || !frame.text) return;
      if (frame.id && pushed[frame.id]) return;
      if (frame.id) pushed[frame.id] = true;
      addMessage("agent", frame.text, frame.author ? "fd-msg-person" : "");
      remember({ who: "agent", text: frame.text, pushed_id: frame.id || null });
    },
    error: onError,
    pong: function () {},
  };

  // -- wiring --------------------------------------------------------------------------------
  function setOpen(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    bubble.setAttribute("aria-expanded", String(open));
    if (open) {
      connect(); // only once someone opens the chat: a page view alone holds no connection
      input.focus();
      scrollDown();
    }
  }
  bubble.addEventListener("click", function () {
    setOpen(panel.hidden);
  });
  closeButton.addEventListener("click", function () {
    setOpen(false);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });

  if (config.greeting) addMessage("agent", config.greeting, "fd-greeting");
  transcript.forEach(function (entry) {
    if (entry.who === "customer") {
      addMessage("customer", entry.text).setAttribute("data-id", entry.id);
    } else {
      if (entry.text) addMessage("agent", entry.text);
      entry.buttons = choicesOf(entry.buttons);
      addChoices(entry);
    }
  });

  function mount() {
    document.body.appendChild(host);
    if (outbox.length) {
      connect(); // messages from before a reload still wait for their replies
      showTyping(true);
    }
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
}
