// Insight passages: code a document by selecting text (a Streamlit components-v1 frontend, no build step).
//
// Protocol (Streamlit's components v1, as streamlit-component-lib speaks it): we post
// {isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1} to the parent; it answers
// with {type: "streamlit:render", args, disabled, theme} now and whenever the arguments change; we post
// "streamlit:setComponentValue" ({value, dataType: "json"}) for each user event, which reruns the
// script, and "streamlit:setFrameHeight" ({height}).
//
// Offsets: Python sends and expects code-point offsets; JavaScript strings index UTF-16 code units,
// which differ after every astral character (emoji, flags). buildMaps() makes both maps once per text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const doc = $("doc"), page = $("page"), barsEl = $("bars"), turnsEl = $("turns"), panel = $("panel");

  // What Python's str.isspace() calls whitespace, so trimming agrees with str.strip().
  const SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
  const LANE = 5;  // px between stacked underlines, and between margin bars

  let args = null, argsJson = "";
  let text = "", cpAt = null, u16Of = null;  // UTF-16 index -> code point, code point -> UTF-16 index
  let byId = new Map(), codeByName = new Map();
  let firstSpan = new Map(), lastSpan = new Map(), laneOf = new Map();
  let disabled = false, seq = 0, scrollTimer = 0;
  let current = null;  // the open panel: {top, scroll} where it was placed, to follow the text as it scrolls

  // -- the protocol ------------------------------------------------------------------------------

  function post(type, data) {
    window.parent.postMessage(Object.assign({isStreamlitMessage: true, type}, data), "*");
  }

  // One user event to Python; the panel closes, and a newly coded passage stays marked until the
  // script has stored it and sends the passages again.
  function send(value) {
    value.nonce = `${Date.now().toString(36)}-${(++seq).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    post("streamlit:setComponentValue", {value, dataType: "json"});
    closePanel(value.action === "code");
  }

  window.addEventListener("message", (event) => {
    if (event.data && event.data.type === "streamlit:render") render(event.data);
  });

  // -- offsets -----------------------------------------------------------------------------------

  function buildMaps(s) {
    const n = s.length, at = new Int32Array(n + 1), of = new Int32Array(n + 1);
    let cp = 0;
    for (let i = 0; i < n; i++, cp++) {
      at[i] = cp;
      of[cp] = i;
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) at[++i] = cp;  // the low half of a pair maps to its code point
      }
    }
    at[n] = cp;
    of[cp] = n;
    cpAt = at;
    u16Of = of.subarray(0, cp + 1);
  }

  // A UTF-16 offset as a code-point offset; one inside a surrogate pair rounds down, or up for an end.
  function toCp(u, roundUp) {
    const c = cpAt[u];
    return roundUp && u > 0 && u < text.length && cpAt[u - 1] === c ? c + 1 : c;
  }

  // Text nodes of the document are the only children of spans carrying data-s (their code-point
  // start); speaker names and suggestion markers are not document text.
  const isDocText = (n) => n.nodeType === Node.TEXT_NODE && n.parentNode.dataset.s !== undefined;
  const walker = document.createTreeWalker(turnsEl, NodeFilter.SHOW_TEXT,
    {acceptNode: (n) => (isDocText(n) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP)});
  const startOf = (textNode) => u16Of[+textNode.parentNode.dataset.s];

  function lastLeaf(n) {
    while (n.lastChild) n = n.lastChild;
    return n;
  }

  function nextDocText(n, inclusive) {  // the first document text at n (inclusive) or after n's subtree
    if (inclusive && isDocText(n)) return n;
    walker.currentNode = inclusive ? n : lastLeaf(n);
    return walker.nextNode();
  }

  function prevDocText(n) {  // the last document text before n (not inside it)
    walker.currentNode = n;
    return walker.previousNode();
  }

  // A DOM boundary point as a UTF-16 offset into the text. A point between nodes, or in text that
  // is not the document's (a speaker's name), moves to the nearest document text after it for a
  // start and before it for an end; null when there is none.
  function pointToU16(node, offset, isStart) {
    let hit;
    if (node.nodeType === Node.TEXT_NODE) {
      if (isDocText(node)) return startOf(node) + offset;
      hit = isStart ? nextDocText(node, false) : prevDocText(node);
    } else if (offset < node.childNodes.length) {
      const child = node.childNodes[offset];
      hit = isStart ? nextDocText(child, true) : prevDocText(child);
    } else {
      const leaf = lastLeaf(node);
      hit = isStart ? nextDocText(node, false) : (isDocText(leaf) ? leaf : prevDocText(leaf));
    }
    if (!hit) return null;
    return isStart ? startOf(hit) : startOf(hit) + hit.length;
  }

  // -- drawing the document ----------------------------------------------------------------------

  function render(msg) {
    const t0 = performance.now();
    applyTheme(msg.theme || {});
    disabled = Boolean(msg.disabled);
    const a = msg.args;
    post("streamlit:setFrameHeight", {height: a.height});
    const json = JSON.stringify(a);
    if (json === argsJson) return;  // nothing new for us (a theme or width change): keep panel and scroll
    const sameText = args !== null && args.text === a.text;
    const scroll = sameText ? doc.scrollTop : storedScroll(a);
    args = a;
    argsJson = json;
    closePanel();
    if (!sameText) {
      text = a.text;
      buildMaps(text);
    }
    codeByName = new Map(a.codes.map((c) => [c.name, c]));
    for (const c of a.codes) {  // search keys, folded once per render
      c.fName = fold(c.name);
      c.fRest = fold([c.definition, c.include, c.exclude, c.example, ...c.keywords].join(" "));
    }
    byId = new Map(a.passages.map((p) => [p.id, p]));
    build();
    drawBars();  // reads the layout, so the time below includes it
    doc.scrollTop = scroll;
    document.body.dataset.renderMs = (performance.now() - t0).toFixed(1);  // read by the tests, with:
    document.body.dataset.renders = String(+(document.body.dataset.renders || 0) + 1);
  }

  function applyTheme(t) {
    const root = document.documentElement;
    const vars = {"--bg": t.backgroundColor, "--bg2": t.secondaryBackgroundColor, "--fg": t.textColor,
      "--accent": t.primaryColor};
    for (const [name, value] of Object.entries(vars)) if (value) root.style.setProperty(name, value);
    root.dataset.base = t.base === "dark" ? "dark" : "light";
  }

  // One pass over the sorted boundaries of turns and passages: a block per turn, a span per piece of
  // text between two boundaries, carrying its code-point start (data-s) and the passages over it.
  function build() {
    const passages = args.passages;
    const turns = args.turns.length ? args.turns : [{start: 0, end: u16Of.length - 1, speaker: null, label: null}];
    turnsEl.classList.toggle("plain", !turns.some((t) => t.speaker || t.label));
    const starts = new Map(), ends = new Map(), points = new Set();
    for (const t of turns) points.add(t.start).add(t.end);
    for (const p of passages) {
      points.add(p.start).add(p.end);
      (starts.get(p.start) || starts.set(p.start, []).get(p.start)).push(p);
      ends.set(p.end, true);
    }
    const sorted = Int32Array.from(points).sort();
    firstSpan = new Map();
    lastSpan = new Map();
    laneOf = new Map();
    const styles = new Map();  // the same set of passages, the same style
    const frag = document.createDocumentFragment();
    let active = [], ti = 0, body = null;
    for (let k = 0; k < sorted.length; k++) {
      const a = sorted[k], b = sorted[k + 1];
      if (ends.has(a)) active = active.filter((p) => p.end !== a);
      for (const p of starts.get(a) || []) {  // the lowest lane free at its start, kept to its end
        let lane = 0;
        while (active.some((q) => laneOf.get(q.id) === lane)) lane++;
        laneOf.set(p.id, lane);
        active.push(p);
      }
      while (ti < turns.length && turns[ti].end <= a) {
        ti++;
        body = null;
      }
      const t = turns[ti];
      if (b === undefined || !t || a < t.start) continue;
      if (!body) body = turnBlock(t, frag);
      const span = document.createElement("span");
      span.dataset.s = a;
      span.textContent = text.slice(u16Of[a], u16Of[b]);
      if (active.length) {
        const ids = active.map((p) => p.id).join(" ");
        if (!styles.has(ids)) styles.set(ids, passageStyle(active));
        const [style, title] = styles.get(ids);
        span.dataset.p = ids;
        span.style.cssText = style;
        span.title = title;
        for (const p of active) {
          if (!firstSpan.has(p.id)) {
            firstSpan.set(p.id, span);
            if (p.status === "suggested") body.appendChild(marker(p));
          }
          lastSpan.set(p.id, span);
        }
      }
      body.appendChild(span);
    }
    turnsEl.replaceChildren(frag);
    doc.style.setProperty("--gutter", `${12 + LANE * Math.max(0, ...laneOf.values())}px`);
  }

  function turnBlock(t, frag) {
    const row = el("div", "turn"), who = el("div", "who", t.speaker || ""), body = el("div", "body");
    if (t.label) who.appendChild(el("small", "", t.label));
    body.dir = "auto";  // an Arabic or Hebrew turn runs right to left
    row.append(who, body);
    frag.appendChild(row);
    return body;
  }

  // Accepted passages: a translucent fill each (layered, so nesting darkens) and a solid underline;
  // suggestions: a dashed underline only. Every passage keeps its own lane below the text.
  function passageStyle(active) {
    const images = [], sizes = [], positions = [], names = [];
    let lanes = 0;  // the padding below the text holds this many underlines
    for (const p of active) lanes = Math.max(lanes, laneOf.get(p.id) + 1);
    for (const p of active) {
      const c = colour(p.colour), lane = laneOf.get(p.id);
      images.push(p.status === "accepted" ? `linear-gradient(${c},${c})`
        : `repeating-linear-gradient(90deg,${c} 0 6px,transparent 6px 10px)`);
      sizes.push("100% 3px");
      positions.push(`0 calc(100% - ${(lanes - 1 - lane) * LANE}px)`);  // lane n sits n lanes below the text
      names.push(p.status === "accepted" ? p.code : `${p.code} (suggestion)`);
    }
    for (const p of active) {  // fills stop above the underlines, off the next line's text
      if (p.status !== "accepted") continue;
      const fill = `color-mix(in srgb,${colour(p.colour)} 16%,transparent)`;
      images.push(`linear-gradient(${fill},${fill})`);
      sizes.push(`100% calc(100% - ${lanes * LANE}px)`);
      positions.push("0 0");
    }
    const style = `background-image:${images.join(",")};background-size:${sizes.join(",")};` +
      `background-position:${positions.join(",")};padding-bottom:${lanes * LANE - 1}px`;
    return [style, names.join(", ")];
  }

  function marker(p) {
    const m = el("span", "mark", `${p.code}${p.score == null ? "" : " " + p.score.toFixed(2)}`);
    m.dataset.m = p.id;
    m.style.setProperty("--c", colour(p.colour));
    m.title = `Suggested: ${p.code}` + (p.score == null ? "" : ` (confidence ${p.score.toFixed(2)})`) +
      (p.reason ? ` \u2014 ${p.reason}` : "");
    return m;
  }

  // A bar in the left margin per passage, from its first line to its last, in its lane.
  function drawBars() {
    const base = page.getBoundingClientRect().top, bars = [];
    for (const p of args.passages) {
      const first = firstSpan.get(p.id);
      if (!first) continue;
      const top = first.getBoundingClientRect().top - base;
      const bottom = lastSpan.get(p.id).getBoundingClientRect().bottom - base;
      const bar = el("div", p.status === "accepted" ? "bar" : "bar sugg");
      bar.dataset.bar = p.id;
      bar.title = p.status === "accepted" ? p.code : `${p.code} (suggestion)`;
      bar.style.cssText = `top:${top}px;height:${Math.max(4, bottom - top)}px;left:${2 + LANE * laneOf.get(p.id)}px;` +
        `--c:${colour(p.colour)}`;
      bars.push(bar);
    }
    barsEl.replaceChildren(...bars);
  }

  // -- selecting text: the code chooser ----------------------------------------------------------

  function onSelectionDone() {
    if (disabled || !args) return;
    const t0 = performance.now();
    const sel = window.getSelection();
    if (!sel.rangeCount || sel.isCollapsed) return;
    const range = sel.getRangeAt(0);
    if (!turnsEl.contains(range.startContainer) || !turnsEl.contains(range.endContainer)) return;
    let a = pointToU16(range.startContainer, range.startOffset, true);
    let b = pointToU16(range.endContainer, range.endOffset, false);
    if (a === null || b === null) return;
    while (a < b && SPACE.test(text[a])) a++;
    while (b > a && SPACE.test(text[b - 1])) b--;
    if (a >= b) return;
    const start = toCp(a, false), end = toCp(b, true), chosen = text.slice(u16Of[start], u16Of[end]);
    const rects = range.getClientRects();
    const anchor = rects.length ? rects[rects.length - 1] : range.getBoundingClientRect();
    const pending = textRanges(range);  // computed before the search box takes the focus
    openPanel(anchor, chooser(`Code \u201c${short(chosen, 90)}\u201d`,
      (code) => send({action: "code", start, end, code, text: chosen}), args.recent));
    if (window.Highlight && CSS.highlights) CSS.highlights.set("pending", new Highlight(...pending));
    document.body.dataset.panelMs = (performance.now() - t0).toFixed(1);
  }

  // The selection as one range per turn text it touches, leaving out the speakers' names.
  function textRanges(range) {
    const out = [];
    for (const body of turnsEl.querySelectorAll(".body")) {
      if (!range.intersectsNode(body)) continue;
      const r = document.createRange();
      r.selectNodeContents(body);
      if (body.contains(range.startContainer)) r.setStart(range.startContainer, range.startOffset);
      if (body.contains(range.endContainer)) r.setEnd(range.endContainer, range.endOffset);
      out.push(r);
    }
    return out;
  }

  // The searchable codebook: recent codes first (keys 1-9), then the tree; the highlighted code's
  // coding rules stay pinned beside the list. onPick(name) applies a code.
  function chooser(title, onPick, recent) {
    const box = el("div", "chooser");
    const input = el("input", "search");
    Object.assign(input, {type: "search", placeholder: "Search codes\u2026", autocomplete: "off", spellcheck: false});
    input.setAttribute("aria-label", "Search codes");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-controls", "codelist");
    input.setAttribute("aria-expanded", "true");
    const list = el("ul", "list"), rules = el("div", "rules");
    list.id = "codelist";
    list.setAttribute("role", "listbox");
    rules.setAttribute("aria-live", "polite");
    const cols = el("div", "cols");
    cols.append(list, rules);
    box.append(el("div", "head", title), input, cols);
    const recentCodes = recent.map((name) => codeByName.get(name)).filter(Boolean);
    let shown = [], hi = 0;

    function fill() {
      const words = fold(input.value).split(/\s+/).filter(Boolean);
      const rows = [];
      if (!words.length) {
        if (recentCodes.length) rows.push("Recent", ...recentCodes.map((c, i) => [c, i < 9 ? i + 1 : null]));
        rows.push("Codebook", ...args.codes.map((c) => [c, null]));
      } else {  // name prefix, then name, then anywhere (definition, rules, example, keywords)
        const rank = (c) => (c.fName.startsWith(words.join(" ")) ? 0 : words.every((w) => c.fName.includes(w)) ? 1 : 2);
        const hits = args.codes.filter((c) => words.every((w) => c.fName.includes(w) || c.fRest.includes(w)));
        const order = new Map(recentCodes.map((c, i) => [c.name, i - recentCodes.length]));
        hits.sort((x, y) => rank(x) - rank(y) || (order.get(x.name) ?? 0) - (order.get(y.name) ?? 0));
        rows.push(...hits.map((c) => [c, null]));
      }
      shown = [];
      list.replaceChildren(...rows.map((row) => {
        if (typeof row === "string") return el("li", "sec", row);
        const [c, number] = row, li = el("li", "opt"), i = shown.length;
        shown.push(c);
        li.id = `opt-${i}`;
        li.setAttribute("role", "option");
        if (!words.length) li.style.paddingLeft = `${8 + 14 * (number ? 0 : c.depth)}px`;
        li.append(chip(c.colour), el("span", "name", c.name));
        if (words.length && c.parent) li.appendChild(el("span", "in", `in ${c.parent}`));
        if (number) li.appendChild(el("kbd", "", String(number)));
        li.addEventListener("mousemove", () => i !== hi && highlight(i));
        li.addEventListener("click", () => onPick(c.name));
        return li;
      }));
      if (!shown.length) list.appendChild(el("li", "none", "No code matches."));
      highlight(0);
    }

    function highlight(i) {
      hi = Math.max(0, Math.min(i, shown.length - 1));
      list.querySelectorAll('[aria-selected="true"]').forEach((li) => li.setAttribute("aria-selected", "false"));
      const li = $(`opt-${hi}`);
      if (li) {  // scroll the list only: scrollIntoView could scroll the page around the frame too
        li.setAttribute("aria-selected", "true");
        if (li.offsetTop < list.scrollTop) list.scrollTop = li.offsetTop;
        else if (li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) {
          list.scrollTop = li.offsetTop + li.offsetHeight - list.clientHeight;
        }
        input.setAttribute("aria-activedescendant", li.id);
      }
      showRules(rules, shown[hi]);
    }

    input.addEventListener("input", fill);
    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        highlight(hi + (e.key === "ArrowDown" ? 1 : -1));
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (shown[hi]) onPick(shown[hi].name);
      } else if (/^[1-9]$/.test(e.key) && !input.value && !e.ctrlKey && !e.metaKey && !e.altKey
                 && recentCodes[+e.key - 1]) {
        e.preventDefault();
        onPick(recentCodes[+e.key - 1].name);
      }
    });
    box.onShow = () => {  // fill once the panel is in the page (highlight() looks options up by id)
      fill();
      input.focus({preventScroll: true});
    };
    return box;
  }

  function showRules(box, c) {
    box.replaceChildren();
    if (!c) return;
    const head = el("div", "rname");
    head.append(chip(c.colour), el("b", "", c.name));
    box.appendChild(head);
    if (c.parent) box.appendChild(el("div", "path", `under ${c.parent}`));
    const dl = el("dl");
    for (const [label, value] of [["Definition", c.definition], ["Include", c.include], ["Exclude", c.exclude],
      ["Example", c.example]]) {
      if (value) dl.append(el("dt", "", label), el("dd", "", value));
    }
    box.appendChild(dl.childElementCount ? dl : el("p", "muted", "No definition or rules written for this code."));
  }

  // -- clicking a coded passage: the codings there -----------------------------------------------

  function onClick(e) {
    if (disabled || !args || !window.getSelection().isCollapsed) return;
    const target = e.target.closest("[data-bar],[data-m],[data-p]");
    if (!target) return;
    const ids = target.dataset.p ? target.dataset.p.split(" ").map(Number)
      : [+(target.dataset.bar || target.dataset.m)];
    const around = {left: e.clientX, right: e.clientX, top: e.clientY - 12, bottom: e.clientY + 12};
    openPanel(around, codings(ids.map((id) => byId.get(id)).filter(Boolean)));
  }

  function codings(passages) {
    const box = el("div", "codings");
    box.appendChild(el("div", "head", passages.length === 1 ? "1 coding here" : `${passages.length} codings here`));
    for (const p of passages) box.appendChild(card(p));
    box.onShow = () => { const b = box.querySelector("button"); if (b) b.focus({preventScroll: true}); };
    return box;
  }

  function card(p) {
    const suggested = p.status === "suggested", box = el("div", suggested ? "card sugg" : "card");
    box.style.setProperty("--c", colour(p.colour));
    const head = el("div", "row");
    head.append(chip(p.colour), el("b", "", p.code));
    if (suggested) head.appendChild(el("span", "tag", "suggestion"));
    box.appendChild(head);
    box.appendChild(el("div", "quote", `\u201c${short(text.slice(u16Of[p.start], u16Of[p.end]), 140)}\u201d`));
    const who = p.coder === args.coder && p.coder ? `${p.coder} (you)` : p.coder;
    const meta = suggested ? [who && `by ${who}`, p.score != null && `confidence ${p.score.toFixed(2)}`]
      : [who, p.created_at && String(p.created_at).replace("T", " ").slice(0, 16)];
    box.appendChild(el("div", "meta", meta.filter(Boolean).join(" \u00b7 ")));
    if (suggested && p.reason) box.appendChild(el("div", "reason", p.reason));
    if (!suggested && p.memo) box.appendChild(el("div", "memo", p.memo));
    const actions = el("div", "actions");
    const button = (label, onClick, primary) => {
      const b = el("button", primary ? "primary" : "", label);
      b.type = "button";
      b.addEventListener("click", onClick);
      actions.appendChild(b);
    };
    if (suggested) {
      button("Accept", () => send({action: "accept", id: p.id}), true);
      button("Reject", () => send({action: "reject", id: p.id}));
    } else {
      button("Remove", () => send({action: "remove", id: p.id}));
      button("Change code", () => replacePanel(chooser(`Change \u201c${p.code}\u201d to\u2026`,
        (code) => send({action: "recode", id: p.id, code}), args.recent.filter((name) => name !== p.code))));
      button(p.memo ? "Edit memo" : "Memo", () => editMemo(box, p));
    }
    box.appendChild(actions);
    return box;
  }

  function editMemo(box, p) {
    box.querySelectorAll(".memo, .actions").forEach((n) => n.remove());
    const area = el("textarea", "memo-edit");
    area.value = p.memo || "";
    area.rows = 4;
    area.setAttribute("aria-label", `Memo for ${p.code}`);
    const actions = el("div", "actions"), save = el("button", "primary", "Save memo");
    save.type = "button";
    save.addEventListener("click", () => send({action: "memo", id: p.id, memo: area.value}));
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) save.click();
    });
    actions.appendChild(save);
    box.append(area, actions);
    fit();
    area.focus({preventScroll: true});
  }

  // -- the one floating panel --------------------------------------------------------------------

  // Below the anchor (the end of the selection, or the click), else above it, else where it fits.
  function openPanel(anchor, content) {
    replacePanel(content);
    const w = panel.offsetWidth, h = panel.offsetHeight, vw = window.innerWidth, vh = window.innerHeight;
    let top = anchor.bottom + 6;
    if (top + h > vh - 8) top = anchor.top - h - 6 >= 8 ? anchor.top - h - 6 : Math.max(8, vh - h - 8);
    panel.style.left = `${Math.max(8, Math.min(anchor.left, vw - w - 8))}px`;
    place(top);
  }

  function place(top) {
    panel.style.top = `${top}px`;
    current = {top, scroll: doc.scrollTop};
  }

  // New content in the open panel (Change code): moved up if it no longer fits below.
  function replacePanel(content) {
    panel.replaceChildren(content);
    panel.setAttribute("aria-label", content.classList.contains("chooser") ? "Choose a code" : "Codings here");
    panel.hidden = false;
    if (content.onShow) content.onShow();
    fit();
  }

  function fit() {  // up, if the panel has grown past the bottom of the frame
    if (current && current.top + panel.offsetHeight > window.innerHeight - 8) {
      place(Math.max(8, window.innerHeight - panel.offsetHeight - 8));
    }
  }

  function closePanel(keepPending) {
    if (!keepPending && window.Highlight && CSS.highlights) CSS.highlights.delete("pending");
    panel.hidden = true;
    panel.replaceChildren();
    current = null;
  }

  // -- scroll position (kept across renders, and across a reload of the frame) -------------------

  // Per widget key and text length, so that another document under the same key starts at the top.
  const scrollKey = (a) => `insight_passages:${a.key}:${a.text.length}`;

  function storedScroll(a) {
    try {
      return +(sessionStorage.getItem(scrollKey(a)) || 0);
    } catch (e) {
      return 0;  // storage blocked: start at the top
    }
  }

  doc.addEventListener("scroll", () => {
    if (current) panel.style.top = `${current.top - (doc.scrollTop - current.scroll)}px`;  // follow the text
    clearTimeout(scrollTimer);
    scrollTimer = setTimeout(() => {
      try {
        sessionStorage.setItem(scrollKey(args), String(doc.scrollTop));
      } catch (e) { /* storage blocked: the position is kept only while the frame lives */ }
    }, 200);
  });

  // -- wiring ------------------------------------------------------------------------------------

  doc.addEventListener("mouseup", () => setTimeout(onSelectionDone, 0));  // after the selection settles
  document.addEventListener("keyup", (e) => {
    if (e.key === "Shift" && !panel.contains(e.target)) onSelectionDone();  // shift+arrows, then let go
  });
  turnsEl.addEventListener("click", onClick);
  barsEl.addEventListener("click", onClick);
  document.addEventListener("mousedown", (e) => {
    if (!panel.contains(e.target)) closePanel();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) {
      closePanel();
      doc.focus({preventScroll: true});
    }
  });
  window.addEventListener("resize", () => args && drawBars());

  // -- small helpers -----------------------------------------------------------------------------

  function el(tag, cls, content) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function chip(c) {
    const node = el("span", "chip");
    node.style.setProperty("--c", colour(c));
    return node;
  }

  const colours = new Map();
  function colour(c) {  // a colour CSS understands, or grey: it goes into style text
    if (!colours.has(c)) colours.set(c, c && CSS.supports("color", c) ? c : "#888888");
    return colours.get(c);
  }

  function fold(s) {  // case and accents do not matter to search
    return (s || "").normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  }

  function short(s, n) {
    s = s.replace(/\s+/g, " ");
    return s.length > n ? `${s.slice(0, n - 1)}\u2026` : s;
  }

  post("streamlit:componentReady", {apiVersion: 1});
})();
