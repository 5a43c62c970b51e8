// TMUX Orchestrator dashboard: follows /monitor/stream and keeps the page true.
// The overview patches a card the moment its state changes, then asks the server for the
// card again (health, task, restarts); one request covers every card changed meanwhile.
(function () {
  "use strict";

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  const WORDS = json("state-words") || {};
  const status = document.getElementById("live-status");

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m";
    const h = Math.floor(m / 60);
    return h < 48 ? h + "h " + (m % 60) + "m" : Math.floor(h / 24) + "d";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (t) {
      const text = ago(now - Date.parse(t.dataset.since)) + ("ago" in t.dataset ? " ago" : "");
      if (t.textContent !== text) t.textContent = text;
    });
  }
  setInterval(tick, 1000);
  tick();

  function setState(el, state, at) {
    el.dataset.state = state;
    if (el.classList.contains("card")) {
      el.className = el.className.replace(/\bstate-\S+/g, "").trim() + " state-" + state;
    }
    const badge = el.querySelector("[data-word]");
    if (badge) {
      badge.textContent = WORDS[state] || state;
      badge.className = "badge state-" + state;
    }
    const since = el.querySelector(".state time[data-since]");
    if (since && at) since.dataset.since = at;
  }

  function follow(url, handlers) {
    const source = new EventSource(url);
    source.onopen = function () { if (status) status.textContent = "live"; };
    source.onerror = function () {
      if (!status) return;
      // CLOSED: refused (logged out) or not a stream; the browser does not try again.
      status.textContent = source.readyState === EventSource.CLOSED
        ? "not live: reload the page (logged out, or the service stopped)" : "reconnecting…";
    };
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) { handlers[name](JSON.parse(event.data)); });
    });
    return source;
  }

  // Fetch `url` at most once at a time; a call while one is in flight runs once after it.
  function coalesced(fetchOnce) {
    let running = false, again = false;
    return async function run() {
      if (running) { again = true; return; }
      running = true;
      try { await fetchOnce(); } finally {
        running = false;
        if (again) { again = false; run(); }
      }
    };
  }

  // A piece of a page, or null. Sent to the login page (the session ended), it says so
  // rather than putting the login form where a card was.
  async function pagePart(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } });
    } catch (error) {
      return null;
    }
    if (response.redirected || !response.ok) {
      if (status && (response.redirected || response.status === 401 || response.status === 403)) {
        status.textContent = "logged out: reload the page to log in again";
      }
      return null;
    }
    return response.text();
  }

  async function fragment(url) {
    const html = await pagePart(url);
    if (html === null) return null;
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // --- the overview -------------------------------------------------------------------------
  const overview = document.getElementById("overview");
  if (overview) {
    const URGENCY = json("urgency") || [];
    const rank = function (state) {
      const i = URGENCY.indexOf(state);
      return i < 0 ? URGENCY.length : i;
    };
    const groups = document.getElementById("groups");
    const pending = new Set();
    let timer = null, arranging = false;

    function groupList(name) {
      for (const section of groups.querySelectorAll("section.group")) {
        if (section.dataset.group === name) return section.querySelector("ul.cards");
      }
      const section = document.createElement("section");
      section.className = "group";
      section.dataset.group = name;
      const id = "group-" + Math.random().toString(36).slice(2);
      section.setAttribute("aria-labelledby", id);
      const heading = document.createElement("h2");
      heading.id = id;
      const badge = document.createElement("span");
      badge.dataset.rollup = "";
      heading.append(badge, " " + name);
      const list = document.createElement("ul");
      list.className = "cards";
      section.append(heading, list);
      groups.append(section);
      const empty = groups.querySelector(".empty");
      if (empty) empty.remove();
      return list;
    }

    function place(card) {
      const old = document.getElementById(card.id);
      if (card.dataset.state === "stopped") {
        if (old) old.remove();
        return;
      }
      if (old && old.dataset.group === card.dataset.group) {
        const focused = old.contains(document.activeElement);
        old.replaceWith(card);
        if (focused) { const link = card.querySelector("a"); if (link) link.focus(); }
        return;
      }
      if (old) old.remove();
      groupList(card.dataset.group).append(card);
    }

    function inOrder(parent, children) {
      const now = Array.from(parent.children);
      if (children.every(function (child, i) { return now[i] === child; })) return;
      if (parent.contains(document.activeElement)) return; // not under the keyboard's feet
      children.forEach(function (child) { parent.append(child); });
    }

    function arrange() {
      arranging = false;
      const counts = {};
      let total = 0;
      const sections = Array.from(groups.querySelectorAll("section.group"));
      sections.forEach(function (section) {
        const list = section.querySelector("ul.cards");
        const cards = Array.from(list.children);
        if (!cards.length) { section.remove(); return; }
        cards.forEach(function (card) { counts[card.dataset.state] = (counts[card.dataset.state] || 0) + 1; total++; });
        cards.sort(function (a, b) {
          return rank(a.dataset.state) - rank(b.dataset.state) || a.dataset.name.localeCompare(b.dataset.name);
        });
        inOrder(list, cards);
        const state = cards.map(function (c) { return c.dataset.state; })
          .reduce(function (a, b) { return rank(b) < rank(a) ? b : a; });
        section.dataset.state = state;
        const badge = section.querySelector("[data-rollup]");
        badge.className = "badge state-" + state;
        badge.textContent = WORDS[state] || state;
      });
      const live = Array.from(groups.querySelectorAll("section.group"));
      live.sort(function (a, b) {
        return rank(a.dataset.state) - rank(b.dataset.state) || a.dataset.group.localeCompare(b.dataset.group);
      });
      inOrder(groups, live);
      document.querySelectorAll("[data-count]").forEach(function (li) {
        li.querySelector(".n").textContent = counts[li.dataset.count] || 0;
      });
      const shown = overview.querySelector("[data-total]");
      if (shown) shown.textContent = total;
    }

    function arrangeSoon() {
      if (arranging) return;
      arranging = true;
      requestAnimationFrame(arrange);
    }

    const refresh = coalesced(async function () {
      const ids = Array.from(pending);
      pending.clear();
      if (!ids.length) return;
      const found = await fragment(overview.dataset.cards + "?ids=" + ids.join(","));
      if (!found) { ids.forEach(function (id) { pending.add(id); }); return; } // next time
      const got = new Set();
      found.querySelectorAll("li.card").forEach(function (card) { got.add(card.dataset.agent); place(card); });
      ids.forEach(function (id) {
        if (!got.has(String(id))) { const gone = document.getElementById("agent-" + id); if (gone) gone.remove(); }
      });
      arrangeSoon();
    });

    follow(overview.dataset.stream, {
      state: function (change) {
        const card = document.getElementById("agent-" + change.agent_id);
        if (card) {
          setState(card, change.to_state, change.at);
          arrangeSoon();
        }
        pending.add(change.agent_id);
        clearTimeout(timer);
        timer = setTimeout(refresh, 100);
      },
    });
  }

  // --- one agent ------------------------------------------------------------------------------
  const page = document.getElementById("agent-page");
  if (page) {
    const screen = document.getElementById("screen");
    const history = document.getElementById("history");
    const timeline = document.getElementById("timeline");

    const redraw = coalesced(async function () {
      const html = await pagePart(page.dataset.screen);
      if (html === null) return;
      const atBottom = screen.scrollTop + screen.clientHeight >= screen.scrollHeight - 4;
      screen.innerHTML = html; // the server's HTML: every character of the screen escaped
      if (atBottom) screen.scrollTop = screen.scrollHeight;
    });
    const reread = coalesced(async function () {
      const found = await fragment(page.dataset.history);
      if (found) history.replaceChildren(found);
    });

    follow(page.dataset.stream, {
      screen: redraw,
      message: reread,
      state: function (change) {
        setState(page, change.to_state, change.at);
        const reason = page.querySelector("[data-reason]");
        if (reason) reason.textContent = change.reason;
        page.querySelectorAll("[data-when]").forEach(function (el) { el.hidden = el.dataset.when !== change.to_state; });
        const item = document.createElement("li");
        const when = document.createElement("time");
        when.dateTime = change.at;
        when.textContent = change.at.slice(11, 19); // UTC, as the server writes it
        const badge = document.createElement("span");
        badge.className = "badge state-" + change.to_state;
        badge.textContent = change.to_state;
        const why = document.createElement("small");
        why.textContent = "(" + change.signal + ") " + change.reason;
        item.append(when, " ", badge, " from " + change.from_state + " ", why);
        timeline.prepend(item);
      },
    });
  }

  // --- what needs you: read again whenever a state or a delivery changes ---------------------
  const needs = document.getElementById("needs-you");
  if (needs) {
    const reread = coalesced(async function () {
      const html = await pagePart(needs.dataset.refresh);
      if (html === null || html === needs.dataset.shown) return;
      needs.dataset.shown = html;
      const focused = needs.contains(document.activeElement) ? document.activeElement.id : null;
      needs.innerHTML = html;
      if (window.htmx) window.htmx.process(needs);
      if (focused !== null) { // the keyboard stays on the same button, or on the list if it is gone
        const again = focused && document.getElementById(focused);
        (again || needs.querySelector("h2")).focus();
      }
    });
    follow(needs.dataset.stream, { state: reread, message: reread });
  }

  // --- the task board: a card dropped on a column is moved there, as its menu would ----------
  const taskBoard = document.getElementById("board");
  if (taskBoard) {
    let dragged = null;
    taskBoard.addEventListener("dragstart", function (event) {
      dragged = event.target.closest("li.task");
      if (dragged) event.dataTransfer.setData("text/plain", dragged.dataset.task);
    });
    taskBoard.addEventListener("dragover", function (event) {
      const column = event.target.closest("section.column");
      if (dragged && column && dragged.dataset.moves.split(" ").includes(column.dataset.column)) {
        event.preventDefault();
        column.classList.add("drop-here");
      }
    });
    taskBoard.addEventListener("dragleave", function (event) {
      const column = event.target.closest("section.column");
      if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-here");
    });
    taskBoard.addEventListener("dragend", function () {
      dragged = null;
      taskBoard.querySelectorAll(".drop-here").forEach(function (c) { c.classList.remove("drop-here"); });
    });
    taskBoard.addEventListener("drop", function (event) {
      const column = event.target.closest("section.column");
      if (!dragged || !column || !dragged.dataset.moves.split(" ").includes(column.dataset.column)) return;
      event.preventDefault();
      column.classList.remove("drop-here");
      const form = dragged.querySelector("form.move");
      form.querySelector("select").value = column.dataset.column;
      if (window.htmx) window.htmx.trigger(form, "submit"); else form.submit();
      dragged = null;
    });
  }
})();
