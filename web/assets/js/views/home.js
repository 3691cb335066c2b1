// The home page: the most popular products and the category tree with
// product counts. Searching starts from the header's search box.
//
// One request gives both: a search without filters lists the popular
// products and, as its category facet, the root categories with their
// counts. A root's subcategories are fetched the same way (its facet) when
// it is opened, so the tree costs a few kilobytes instead of the whole
// `GET /api/categories` (every one of the catalog's ~5,800 categories).

import { api } from "../api.js";
import { el, num, productCard, errorPanel } from "../ui.js";

const categoryHref = (slug) => `/?${new URLSearchParams({ category: slug })}`;

// One root: a disclosure whose subcategories load when it is first opened.
function branch(root) {
  const list = el("ul", { className: "subtree" }, el("li", {}, el("a", { href: categoryHref(root.slug), className: "all" }, `All ${root.name}`)));
  const box = el("details", { className: "branch" },
    el("summary", {}, el("span", { className: "name" }, root.name), " ", el("span", { className: "count" }, `(${num.format(root.count)})`)),
    list);
  let loaded = false;
  box.addEventListener("toggle", async () => {
    if (!box.open || loaded) return;
    loaded = true;
    list.setAttribute("aria-busy", "true");
    try {
      const data = await api(`/api/products?${new URLSearchParams({ category: root.slug, limit: "1" })}`);
      list.append(...data.facets.categories.map((c) =>
        el("li", {}, el("a", { href: categoryHref(c.slug) }, c.name, " ", el("span", { className: "count" }, `(${num.format(c.count)})`)))));
    } catch (e) {
      loaded = false;
      list.append(el("li", {}, errorPanel(e)));
    } finally {
      list.removeAttribute("aria-busy");
    }
  });
  return el("li", {}, box);
}

export async function render(ctx) {
  ctx.title("");
  const box = document.getElementById("search");
  if (document.activeElement !== box) box.value = ""; // never under the customer's fingers
  let data = null, failure = null;
  try {
    data = await api("/api/products?sort=popularity&limit=10", { signal: ctx.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    failure = e;
  }
  ctx.show(
    el("section", { className: "hero" },
      el("h1", {}, "Find it at Emporium"),
      el("p", { className: "lead" }, "Search thousands of products by name, brand or category — start typing in the search box above.")),
    failure ? errorPanel(failure, () => ctx.navigate(location.href, { replace: true })) : null,
    data ? el("section", { "aria-labelledby": "categories-heading" },
      el("h2", { id: "categories-heading" }, "Shop by category"),
      el("ul", { className: "tree" }, data.facets.categories.map(branch))) : null,
    data && data.items.length ? el("section", { "aria-labelledby": "popular-heading" },
      el("h2", { id: "popular-heading" }, "Popular now"),
      el("ul", { className: "grid" }, data.items.map(productCard))) : null);
}
