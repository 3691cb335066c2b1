// Type-ahead for the header search box: completions from
// `GET /api/search/suggest` as an ARIA combobox (arrow keys move through
// the list, Enter picks, Escape closes), at most one request in flight.

import { api } from "./api.js";
import { el } from "./ui.js";

const DELAY_MS = 120;

// The typed text inside a suggestion, in bold.
function highlight(text, typed) {
  const i = text.toLowerCase().indexOf(typed.toLowerCase());
  if (!typed || i < 0) return el("span", {}, text);
  return el("span", {}, text.slice(0, i), el("mark", {}, text.slice(i, i + typed.length)), text.slice(i + typed.length));
}

/** Wires `input` inside `form` to the `list` of suggestions; `go(q)` searches. */
export function attachTypeahead(form, input, list, go) {
  let timer = 0, ctl = null, options = [], active = -1;

  const setOpen = (open) => {
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (!open) { active = -1; input.removeAttribute("aria-activedescendant"); }
  };
  const cancel = () => {
    clearTimeout(timer);
    if (ctl) ctl.abort();
    ctl = null;
    setOpen(false);
  };
  const pick = (text) => { cancel(); input.value = text; go(text); };

  async function suggest() {
    const typed = input.value.trim();
    if (ctl) ctl.abort();
    if (!typed) { setOpen(false); return; }
    const mine = (ctl = new AbortController());
    try {
      const data = await api(`/api/search/suggest?${new URLSearchParams({ q: typed })}`, { signal: mine.signal });
      if (mine !== ctl || document.activeElement !== input) return;
      options = data.suggestions || [];
      list.replaceChildren(...options.map((s, i) => el("li", {
        id: `suggestion-${i}`, role: "option", "aria-selected": "false",
        onmousedown: (e) => { e.preventDefault(); pick(s.text); },
      }, highlight(s.text, typed), el("span", { className: "kind" }, s.kind))));
      active = -1;
      setOpen(options.length > 0);
    } catch { setOpen(false); /* type-ahead is a convenience: searching still works */ }
  }

  function move(delta) {
    if (list.hidden || !options.length) return;
    if (active >= 0) list.children[active].setAttribute("aria-selected", "false");
    active += delta;
    if (active >= options.length) active = -1;
    if (active < -1) active = options.length - 1;
    if (active < 0) { input.removeAttribute("aria-activedescendant"); return; }
    const opt = list.children[active];
    opt.setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", opt.id);
    opt.scrollIntoView({ block: "nearest" });
  }

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, DELAY_MS); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); if (list.hidden) suggest(); else move(1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); move(-1); }
    else if (e.key === "Enter" && !list.hidden && active >= 0) { e.preventDefault(); pick(options[active].text); }
    else if (e.key === "Escape" && !list.hidden) { e.preventDefault(); cancel(); }
  });
  input.addEventListener("blur", () => setOpen(false));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    cancel();
    const q = input.value.trim();
    if (q) go(q);
  });
}
