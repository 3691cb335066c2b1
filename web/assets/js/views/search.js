// Search results: `/?q=…&category=…&brand=…&min_price=…&max_price=…&sort=…&page=…`.
// The URL is the whole state, so a reload or a pasted link shows the same
// page. Facets (category, brand, price band) and pages are links to such
// URLs.
//
// The API pages with keyset cursors (`next_cursor`), not page numbers, so
// the cursor that starts each page is remembered for the tab's session;
// a link to page N opened cold walks there in steps of up to 96 products
// (cursors do not depend on the page size).
//
// Timing: the page marks `search-response` when the products response
// arrives and `search-rendered` once the results are in the DOM, and
// measures `search-render` (and `search-paint`, to the next frame) between
// them; the end-to-end tests read these.

import { api } from "../api.js";
import { $, el, num, money, productCard, errorPanel } from "../ui.js";

const PAGE_SIZE = 24;
const STEP_PAGES = 4; // pages fetched in one request when walking to a far page
const FILTERS = ["q", "category", "brand", "min_price", "max_price", "sort"];
const SORTS = [
  ["relevance", "Best match"],
  ["popularity", "Most popular"],
  ["price_asc", "Price: low to high"],
  ["price_desc", "Price: high to low"],
  ["name", "Name (A–Z)"],
];

// Names for the category path, from the results themselves: each product's
// category has the names from the root down (`category.path`) beside its
// slug, whose first parts are the filter's. (`GET /api/categories` would
// name them too, but it is the whole tree: over a megabyte.)
function categoryNames(data) {
  const names = new Map();
  for (const c of [...data.items.map((p) => p.category), ...data.facets.categories]) {
    if (c.path) c.slug.split("/").forEach((_, i, parts) => names.set(parts.slice(0, i + 1).join("/"), c.path[i]));
    else names.set(c.slug, c.name);
  }
  return names;
}

/* ---------- cursors ---------- */

const CURSORS = "emporium.cursors";
function cursorBook(key) {
  let all = {};
  try { all = JSON.parse(sessionStorage.getItem(CURSORS)) || {}; } catch { /* fresh */ }
  const book = all[key] || {};
  const save = () => {
    delete all[key];
    all[key] = book;
    const keys = Object.keys(all);
    for (const old of keys.slice(0, Math.max(0, keys.length - 20))) delete all[old];
    try { sessionStorage.setItem(CURSORS, JSON.stringify(all)); } catch { /* not kept */ }
  };
  return { get: (page) => (page === 1 ? "" : book[page]), set: (page, c) => { book[page] = c; save(); }, clear: () => { for (const k of Object.keys(book)) delete book[k]; save(); } };
}

const productsUrl = (filters, limit, cursor) => {
  const p = new URLSearchParams(filters);
  p.set("limit", String(limit));
  if (cursor) p.set("cursor", cursor);
  return `/api/products?${p}`;
};

/** The page `page` of the search; `beyond` when it is past the last one. */
async function fetchPage(filters, page, signal, timing) {
  const book = cursorBook(new URLSearchParams(filters).toString());
  let start = page;
  while (start > 1 && book.get(start) === undefined) start--;
  // Walk from the last known page start to the wanted one.
  while (start < page) {
    const step = Math.min(STEP_PAGES, page - start);
    const skip = await api(productsUrl(filters, step * PAGE_SIZE, book.get(start)), { signal });
    start += step;
    if (!skip.next_cursor) return { ...skip, items: [], beyond: true };
    book.set(start, skip.next_cursor);
  }
  const sent = performance.now();
  const data = await api(productsUrl(filters, PAGE_SIZE, book.get(page)), {
    signal,
    onResponse: () => { timing.took = performance.now() - sent; performance.mark("search-response"); },
  }).catch((e) => {
    if (e.status === 400 && e.details.some((d) => d.field === "cursor")) book.clear(); // catalog changed
    throw e;
  });
  if (data.next_cursor) book.set(page + 1, data.next_cursor);
  return data;
}

/* ---------- rendering ---------- */

function hrefWith(query, changes) {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (query.get(k)) p.set(k, query.get(k));
  for (const [k, v] of Object.entries(changes)) if (v) p.set(k, v); else p.delete(k);
  return `/?${p}`;
}

function facetLink(label, count, href, active, key) {
  return el("li", {}, el("a", { className: "facet", href, "aria-current": active ? "true" : null, dataset: { key } },
    el("span", {}, label), el("span", { className: "count" }, num.format(count))));
}

function facetSection(id, title, clearHref, ...content) {
  return el("section", { "aria-labelledby": id },
    el("div", { className: "facet-head" }, el("h2", { id }, title),
      clearHref ? el("a", { href: clearHref, className: "clear", "aria-label": `Clear ${title.toLowerCase()} filter` }, "Clear") : null),
    ...content);
}

function bandLabel(b, currency) {
  const m = (v) => money(v, currency, true);
  if (b.max == null) return `${m(b.min)} and up`;
  return b.min ? `${m(b.min)} – ${m(b.max)}` : `Under ${m(b.max)}`;
}

function facets(query, f, catNames, currency) {
  const category = query.get("category") || "";
  const brand = (query.get("brand") || "").toLowerCase();
  const minP = query.get("min_price") || "", maxP = query.get("max_price") || "";
  const parts = category && !/^[0-9a-f-]{36}$/.test(category) ? category.split("/") : [];
  const crumbs = el("ol", { className: "crumbs" },
    el("li", {}, parts.length ? el("a", { href: hrefWith(query, { category: "" }) }, "All") : el("span", { "aria-current": "location" }, "All")),
    parts.map((part, i) => {
      const slug = parts.slice(0, i + 1).join("/");
      const name = catNames.get(slug) || part.replace(/-/g, " ");
      return el("li", {}, i < parts.length - 1
        ? el("a", { href: hrefWith(query, { category: slug }) }, name)
        : el("span", { "aria-current": "location" }, name));
    }));
  const sections = [
    facetSection("facet-category", "Category", null, el("nav", { "aria-label": "Category path" }, crumbs),
      el("ul", {}, f.categories.map((c) => facetLink(c.name, c.count, hrefWith(query, { category: c.slug }), false, `f-c-${c.slug}`)))),
  ];
  if (f.brands.length || brand) {
    sections.push(facetSection("facet-brand", "Brand", brand ? hrefWith(query, { brand: "" }) : null,
      el("ul", {}, f.brands.map((b) => {
        const on = b.value.toLowerCase() === brand;
        return facetLink(b.value, b.count, hrefWith(query, { brand: on ? "" : b.value }), on, `f-b-${b.value}`);
      }))));
  }
  if (f.price.length || minP || maxP) {
    sections.push(facetSection("facet-price", "Price", minP || maxP ? hrefWith(query, { min_price: "", max_price: "" }) : null,
      el("ul", {}, f.price.map((b) => {
        const min = b.min ? String(b.min) : "";
        const max = b.max == null ? "" : String(b.max - 1); // bands exclude max; max_price is inclusive
        const on = minP === min && maxP === max;
        return facetLink(bandLabel(b, currency), b.count,
          hrefWith(query, on ? { min_price: "", max_price: "" } : { min_price: min, max_price: max }), on, `f-p-${min}-${max}`);
      }))));
  }
  const active = [category, brand, minP || maxP].filter(Boolean).length;
  const box = el("details", { className: "facets" },
    el("summary", {}, "Filters", active ? ` (${active} active)` : ""),
    active ? el("p", {}, el("a", { href: hrefWith(query, { category: "", brand: "", min_price: "", max_price: "" }) }, "Clear all filters")) : null,
    sections);
  box.open = matchMedia("(min-width: 56rem)").matches;
  return el("aside", { "aria-label": "Filters" }, box);
}

function pager(query, page, pages) {
  if (pages <= 1 && page === 1) return null;
  const link = (label, p, key, rel) => el("a", { href: hrefWith(query, { page: p > 1 ? String(p) : "" }), className: "button secondary", rel, dataset: { key } }, label);
  return el("nav", { className: "pager", "aria-label": "Pages" },
    page > 2 ? link("First", 1, "page-first") : null,
    page > 1 ? link("Previous", page - 1, "page-prev", "prev") : null,
    el("span", { className: "muted", "aria-current": "page" }, `Page ${num.format(page)} of ${num.format(Math.max(pages, 1))}`),
    page < pages ? link("Next", page + 1, "page-next", "next") : null);
}

function notice(query, data) {
  const lines = [];
  if (data.corrected_query) {
    lines.push(el("p", {}, "Showing results for “", el("strong", {}, data.corrected_query), "”. ",
      el("a", { href: hrefWith(query, { q: data.corrected_query, page: "" }) }, `Search for ${data.corrected_query} instead`)));
  }
  if (data.relaxed) lines.push(el("p", {}, "No product has every word; showing products with any of them."));
  return lines.length ? el("div", { className: "notice" }, lines) : null;
}

export async function render(ctx) {
  const { query } = ctx;
  const q = query.get("q") || "";
  const page = Math.max(1, Math.min(10_000, parseInt(query.get("page") || "1", 10) || 1));
  const filters = {};
  for (const k of FILTERS) if (query.get(k)) filters[k] = query.get(k);
  if (document.activeElement !== $("search")) $("search").value = q; // not while typing
  const grid = document.querySelector("#results");
  if (grid) grid.setAttribute("aria-busy", "true"); // a refinement of the results shown: dim them

  const timing = { took: 0 };
  let data;
  try {
    data = await fetchPage(filters, page, ctx.signal, timing);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.title("Search");
    ctx.show(el("h1", {}, q ? `Results for “${q}”` : "Products"), errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
    return;
  }
  if (ctx.signal.aborted) return;
  const catNames = categoryNames(data);
  const category = query.get("category") || "";
  const catName = catNames.get(category) || (category && category.split("/").pop().replace(/-/g, " "));
  const heading = q ? `Results for “${q}”` : catName || query.get("brand") || "All products";
  ctx.title(q || catName || "Products");
  const currency = (data.items[0] && data.items[0].price.currency) || "USD";
  const pages = Math.ceil(data.total / PAGE_SIZE);
  const sort = query.get("sort") || (q ? "relevance" : "popularity");

  const select = el("select", { id: "sort", dataset: { key: "sort" }, onchange: (e) => ctx.navigate(hrefWith(query, { sort: e.target.value, page: "" })) },
    SORTS.filter(([v]) => q || v !== "relevance").map(([v, t]) => el("option", { value: v }, t)));
  select.value = sort;
  const seconds = (timing.took / 1000).toFixed(timing.took < 10 ? 3 : 2);
  const body = data.beyond || !data.items.length
    ? el("div", { className: "empty" },
      el("p", {}, data.beyond ? "This page is past the last result." : "No products match. Try other words or clear some filters."),
      el("p", {}, el("a", { href: data.beyond ? hrefWith(query, { page: "" }) : "/" }, data.beyond ? "Go to the first page" : "Start over")))
    : el("ul", { id: "results", className: "grid", "aria-label": "Products" }, data.items.map(productCard));

  ctx.show(
    el("h1", {}, heading),
    el("div", { className: "results-layout" },
      facets(query, data.facets, catNames, currency),
      el("section", { className: "results", "aria-label": "Results" },
        el("div", { className: "toolbar" },
          el("p", { id: "result-count", className: "result-count", dataset: { total: data.total } },
            `${num.format(data.total)} ${data.total === 1 ? "product" : "products"}`,
            el("span", { className: "muted" }, ` · found in ${seconds} s`)),
          el("div", { className: "sort" }, el("label", { for: "sort" }, "Sort by"), select)),
        notice(query, data),
        body,
        pager(query, page, pages))));
  if (!timing.took) return; // no page fetched (past the last page)
  performance.mark("search-rendered");
  performance.measure("search-render", "search-response", "search-rendered");
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark("search-painted");
    performance.measure("search-paint", "search-response", "search-painted");
  }, 0));
}
