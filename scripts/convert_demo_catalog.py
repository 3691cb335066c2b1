#!/usr/bin/env python3
"""Build Emporium's demo catalog from the two public product data sets.

Reads
  <shared>/products.jsonl.gz                      20,000 Flipkart products (INR)
  <shared>/products_bestbuy_cellphones.jsonl.gz    3,291 Best Buy cell-phone products (USD)
and writes one file in Emporium's catalog import format (JSON Lines, one
product per line, gzip-compressed; see docs/catalog-format.md):
  catalog/demo-catalog.jsonl.gz

Run from the repository root:

    python3 scripts/convert_demo_catalog.py --shared ../shared/data \
        --out catalog/demo-catalog.jsonl.gz

Add `--fixture crates/emporium/tests/fixtures/small-catalog.jsonl` to also
write the small (about 300 records) plain-text test fixture that is selected
from the converted records.  The script uses only the Python 3.11 standard
library and its output is byte-for-byte reproducible (gzip mtime is 0, records
keep source order: all Flipkart products first, then all Best Buy products).

Conversion rules (documented in docs/catalog-format.md, "The demo catalog"):

* Currency.  The shop sells in USD.  Flipkart prices are whole rupees and are
  converted at a fixed rate of 1 USD = 67 INR (the 2016 average):
  amount in cents = round(inr * 100 / 67).  The selling price is
  `discounted_price`, falling back to `retail_price`; rows with neither are
  skipped.  Best Buy prices are USD with decimals; they are read as exact
  decimals and converted with amount = round(price * 100).
* SKU.  Flipkart: "FK-" + pid; the second occurrence of a duplicated pid gets
  "FK-" + pid + "-" + the first 8 characters of uniq_id.  Best Buy has no id:
  "BB-%05d" % the 1-based line number in the source file.
* Category.  Flipkart's `product_category_tree` is split on " >> ".  Levels
  that are really the product name are removed: a level equal to the name, a
  level cut off with "..." whose text is a prefix of the name, and, at the end
  of the path, a level that is the name plus a variant suffix ("Name (Black,
  Size 9)") or a whole-word prefix of the name.  At most 6 levels are kept.
  Products left with no levels, or whose only level is a top-level value used
  by fewer than 5 products (not a real department), go under ["Other"].
  Best Buy paths ["Cell Phones", ...] are placed under Flipkart's department:
  ["Mobiles & Accessories", "Cell Phones", ...].  Finally the two trees are
  merged: at each position under the same parent, names that differ only in
  case, whitespace or "&" versus "and" are one node, spelled the way most of
  its products spell it.
* Popularity.  Best Buy `popularity` is used as is.  Flipkart has none, so it
  is derived as rating * 1000 (e.g. "4.2" -> 4200, 0 when unrated) plus 500
  for "Flipkart Advantage" products.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import html
import io
import json
import re
import sys
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Fixed exchange rate used for every Flipkart price: 1 USD = 67 INR
#: (roughly the 2016 average, the year the Flipkart data was crawled).
INR_PER_USD = 67
CURRENCY = "USD"

MAX_CATEGORY_LEVELS_KEPT = 6  # our own cap on cleaned Flipkart paths
OTHER_CATEGORY = "Other"
MIN_DEPARTMENT_PRODUCTS = 5  # a top level used by fewer products is not a department
BESTBUY_DEPARTMENT = "Mobiles & Accessories"  # Flipkart department that receives Best Buy

# Limits of the import format (docs/catalog-format.md).
SKU_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_NAME = 300
MAX_BRAND = 100
MAX_DESCRIPTION = 4000
MAX_CATEGORY_DEPTH = 8
MAX_CATEGORY_NAME = 100
MAX_IMAGE_URL = 2000
ALLOWED_FIELDS = {
    "sku", "name", "brand", "description", "category",
    "price", "image", "popularity", "attributes",
}

FLIPKART_FILE = "products.jsonl.gz"
BESTBUY_FILE = "products_bestbuy_cellphones.jsonl.gz"

_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def collapse(text: str) -> str:
    """Trim and collapse every run of whitespace (incl. NBSP) to one space."""
    return _WS.sub(" ", text).strip()


def repair_chars(text: str) -> str:
    """Undo the few character-encoding accidents found in the sources.

    C1 control characters (U+0080..U+009F) are Windows-1252 bytes that were
    decoded as Latin-1 ("Insignia" + U+0099 is "Insignia™"); they are mapped back.
    U+FFFD replacement characters carry nothing and are removed; private-use
    characters (symbol-font bullets) and other control characters become
    spaces.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if 0x80 <= code <= 0x9F:
            try:
                out.append(bytes([code]).decode("cp1252"))
            except UnicodeDecodeError:
                out.append(" ")
        elif ch == "\ufffd":
            continue
        elif ch in "\t\n\r":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Co", "Cs"):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def clip(text: str, limit: int, ellipsis: str = "") -> str:
    """Shorten text to at most `limit` characters, preferably at a word break."""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room - 40:  # do not throw away more than a few words
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ellipsis


#: Counts of values shortened or unescaped by clean_text, reported at the end.
TEXT_NOTES: collections.Counter = collections.Counter()


def clean_text(value, limit: int, *, unescape: bool = True, ellipsis: str = "",
               label: str = "text"):
    """Unescape HTML entities, collapse whitespace, clip; empty -> None."""
    if value is None:
        return None
    text = str(value)
    if unescape:
        unescaped = html.unescape(text)
        if unescaped != text:
            TEXT_NOTES[label + " with HTML entities unescaped"] += 1
        text = unescaped
    repaired = repair_chars(text)
    if repaired != text:
        TEXT_NOTES[label + " with broken characters repaired"] += 1
    text = collapse(repaired)
    if not text:
        return None
    if len(text) > limit:
        TEXT_NOTES[f"{label} shortened to {limit} characters"] += 1
    return clip(text, limit, ellipsis)


def fold(text: str) -> str:
    """Comparison key for names: case-insensitive, whitespace collapsed."""
    return collapse(text).casefold()


def node_key(name: str) -> str:
    """Key under which sibling category nodes are merged.

    Case, whitespace and punctuation are ignored and "&" equals "and", so
    "Beauty & Personal Care" / "Beauty and Personal Care", "X-Doria" /
    "X Doria" and "Men's" / "Mens" are one node.  Apart from "&" this is the
    same equivalence as the category slugs Emporium derives from names, so
    two sibling categories can never end up with the same slug.
    """
    words, word = [], []
    for ch in name.replace("&", " and "):
        if ch.isascii() and ch.isalnum():
            word.append(ch.lower())
        elif ch == "'":
            continue
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return "-".join(words) or fold(name)


def clean_category_level(level: str, label: str):
    """Whitespace-collapsed category name with broken characters removed.

    A trailing "?" is what is left of a mis-encoded character in a handful
    of Flipkart names ("Car Fog Lamps?") and is dropped.
    """
    text = clean_text(level, MAX_CATEGORY_NAME, unescape=True, label=label)
    if text is None:
        return None
    stripped = text.rstrip("?").rstrip()
    if stripped != text:
        TEXT_NOTES[label + " with stray '?' removed"] += 1
    return stripped or None


def read_jsonl_gz(path: Path, **json_kw):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.strip():
                yield line_no, json.loads(line, **json_kw)


def first_http_url(value):
    if isinstance(value, str) and value.startswith(("http://", "https://")) \
            and len(value) <= MAX_IMAGE_URL and not any(c.isspace() for c in value):
        return value
    return None


# --------------------------------------------------------------------------
# Category cleaning
# --------------------------------------------------------------------------

def name_level_kind(level: str, name: str):
    """Classify a category level that is really (part of) the product name.

    Returns None for a genuine category, else one of
      "equal"   - the level is the product name
      "cut"     - the level ends with "..." and is a prefix of the name
      "variant" - the level is the name followed by "(...)" or "..."
      "prefix"  - the level is a whole-word prefix of the name
    """
    lvl, nam = fold(level), fold(name)
    if not lvl or lvl == nam:
        return "equal"
    if lvl.endswith("..."):
        stem = lvl[:-3].rstrip()
        if stem and nam.startswith(stem):
            return "cut"
    if lvl.startswith(nam) and lvl[len(nam):].lstrip().startswith(("(", "...")):
        return "variant"
    if nam.startswith(lvl) and not nam[len(lvl)].isalnum():
        return "prefix"
    return None


def strip_name_levels(levels: list[str], name: str, stats: collections.Counter) -> list[str]:
    """Remove product-name levels from a category path.

    Flipkart paths end with the product name, often with a variant suffix or
    cut off with "...".  All name-like levels at the end of the path are
    dropped.  Elsewhere only levels equal to the name or cut-off prefixes of
    it are dropped: a level such as "Tops" above "Tops And Tunics Tops" is a
    real category even though the product "Tops And Tunics Casual ... Top"
    starts with it, and so is the brand level "Pilot Roller Ball Pens" for
    the product "Pilot Roller Ball Pen".
    """
    levels = list(levels)
    while levels:
        kind = name_level_kind(levels[-1], name)
        if kind is None:
            break
        stats["name level dropped (" + kind + ")"] += 1
        levels.pop()
    kept = []
    for level in levels:
        kind = name_level_kind(level, name)
        if kind in ("equal", "cut"):
            stats["name level dropped (" + kind + ")"] += 1
            continue
        kept.append(level)
    return kept


def merge_category_spellings(records: list[dict], stats: collections.Counter) -> None:
    """Merge category nodes that differ only in case, spacing or "&"/"and".

    Nodes are identified by the keys of all their ancestors plus their own
    key, so the merge happens per position under the same parent.  The
    spelling used by the most products wins; ties go to the spelling seen
    first (Flipkart first, source order).  Paths are rewritten in place.
    """
    spellings: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
    first_seen: dict[tuple, dict] = collections.defaultdict(dict)
    order = 0
    for rec in records:
        path_key: tuple = ()
        for level in rec["category"]:
            path_key = path_key + (node_key(level),)
            spellings[path_key][level] += 1
            first_seen[path_key].setdefault(level, order)
            order += 1
    chosen = {}
    for path_key, counts in spellings.items():
        best = max(counts, key=lambda s: (counts[s], -first_seen[path_key][s]))
        chosen[path_key] = best
        if len(counts) > 1:
            stats["category nodes merged (spellings folded)"] += len(counts) - 1
    for rec in records:
        path_key = ()
        new_path = []
        for level in rec["category"]:
            path_key = path_key + (node_key(level),)
            new_path.append(chosen[path_key])
        if new_path != rec["category"]:
            stats["records whose category spelling was unified"] += 1
        rec["category"] = new_path


# --------------------------------------------------------------------------
# Flipkart
# --------------------------------------------------------------------------

def inr_to_usd_cents(inr: int) -> int:
    """round(inr * 100 / 67) in exact integer arithmetic (never a tie: 67 is odd)."""
    return (inr * 100 * 2 + INR_PER_USD) // (2 * INR_PER_USD)


def parse_rating(value):
    """'4.2' -> Decimal('4.2'); 'No rating available' / junk -> None."""
    try:
        rating = Decimal(str(value).strip())
    except Exception:
        return None
    return rating if rating.is_finite() and rating >= 0 else None


def flipkart_records(path: Path, stats: collections.Counter, skipped: collections.Counter):
    rows = [row for _, row in read_jsonl_gz(path)]
    stats["flipkart rows read"] = len(rows)

    raw_paths = []
    for row in rows:
        tree = json.loads(row["product_category_tree"])
        joined = tree[0] if isinstance(tree, list) and tree else ""
        levels = (clean_category_level(level, "flipkart category") for level in joined.split(" >> "))
        raw_paths.append([level for level in levels if level])
    top_level_use = collections.Counter(p[0] for p in raw_paths if p and p[0])

    seen_pids = set()
    for row, raw_path in zip(rows, raw_paths):
        uniq_id = row["uniq_id"]
        pid = (row.get("pid") or "").strip()
        sku = "FK-" + pid
        if pid in seen_pids:
            sku = sku + "-" + uniq_id[:8]
            stats["flipkart duplicate pid (sku gets uniq_id suffix)"] += 1
        seen_pids.add(pid)

        price_inr = row.get("discounted_price")
        if price_inr is None:
            price_inr = row.get("retail_price")
        if price_inr is None:
            skipped["flipkart: no price (discounted_price and retail_price both null)"] += 1
            continue

        name = clean_text(row["product_name"], MAX_NAME, unescape=False, label="flipkart name")
        if name is None:
            skipped["flipkart: empty name"] += 1
            continue

        category = strip_name_levels(raw_path, repair_chars(row["product_name"]), stats)
        if not category:
            category = [OTHER_CATEGORY]
            stats["flipkart -> Other (tree was only the product name)"] += 1
        elif len(category) == 1 and top_level_use[category[0]] < MIN_DEPARTMENT_PRODUCTS:
            category = [OTHER_CATEGORY]
            stats["flipkart -> Other (lone top level used by < 5 products)"] += 1
        if len(category) > MAX_CATEGORY_LEVELS_KEPT:
            stats["flipkart path cut to 6 levels"] += 1
            category = category[:MAX_CATEGORY_LEVELS_KEPT]

        rating = parse_rating(row.get("overall_rating"))
        popularity = int(rating * 1000) if rating is not None else 0
        if row.get("is_FK_Advantage_product") == "TRUE":
            popularity += 500

        image = None
        if row.get("image"):
            try:
                urls = json.loads(row["image"])
            except ValueError:
                urls = []
            for url in urls if isinstance(urls, list) else []:
                image = first_http_url(url)
                if image:
                    break

        attributes = {"source": "flipkart", "source_id": uniq_id, "pid": pid,
                      "price_inr": str(price_inr)}
        if row.get("retail_price") is not None:
            attributes["retail_price_inr"] = str(row["retail_price"])
        if rating is not None:
            attributes["rating"] = str(row["overall_rating"]).strip()
        if row.get("is_FK_Advantage_product") == "TRUE":
            attributes["flipkart_advantage"] = "true"

        yield {
            "sku": sku,
            "name": name,
            "brand": clean_text(row.get("brand"), MAX_BRAND, unescape=False, label="flipkart brand"),
            "description": clean_text(row.get("description"), MAX_DESCRIPTION, ellipsis="…",
                                      label="flipkart description"),
            "category": category,
            "price": {"amount": inr_to_usd_cents(int(price_inr)), "currency": CURRENCY},
            "image": image,
            "popularity": popularity,
            "attributes": attributes,
        }


# --------------------------------------------------------------------------
# Best Buy
# --------------------------------------------------------------------------

def bestbuy_records(path: Path, stats: collections.Counter, skipped: collections.Counter):
    # parse_float=Decimal keeps "49.99" exact instead of a binary float.
    for line_no, row in read_jsonl_gz(path, parse_float=Decimal):
        stats["bestbuy rows read"] += 1
        sku = "BB-%05d" % line_no
        name = clean_text(row.get("name"), MAX_NAME, label="bestbuy name")
        if name is None:
            skipped["bestbuy: empty name"] += 1
            continue
        price = row.get("price")
        if price is None or isinstance(price, bool) or Decimal(price) < 0:
            skipped["bestbuy: no valid price"] += 1
            continue
        cents = int((Decimal(price) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

        category = []
        for level in row.get("categories") or []:
            level = clean_category_level(level, "bestbuy category")
            if level is None:
                continue
            if name_level_kind(level, name) is not None:
                stats["name level dropped (bestbuy)"] += 1
                continue
            category.append(level)
        if not category or fold(category[0]) != fold("Cell Phones"):
            category = ["Cell Phones"] + category
        category = [BESTBUY_DEPARTMENT] + category
        category = category[:MAX_CATEGORY_DEPTH]

        popularity = row.get("popularity")
        if not isinstance(popularity, int) or isinstance(popularity, bool) or popularity < 0:
            popularity = 0

        yield {
            "sku": sku,
            "name": name,
            "brand": clean_text(row.get("brand"), MAX_BRAND, label="bestbuy brand"),
            "description": clean_text(row.get("description"), MAX_DESCRIPTION, ellipsis="…",
                                      label="bestbuy description"),
            "category": category,
            "price": {"amount": cents, "currency": CURRENCY},
            "image": first_http_url(row.get("image")),
            "popularity": popularity,
            "attributes": {"source": "bestbuy", "source_line": str(line_no)},
        }


# --------------------------------------------------------------------------
# Validation (mirrors docs/catalog-format.md)
# --------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(rec: dict) -> list[str]:
    errors = []
    unknown = set(rec) - ALLOWED_FIELDS
    if unknown:
        errors.append("unknown fields: " + ", ".join(sorted(unknown)))
    sku = rec.get("sku")
    if not isinstance(sku, str) or not SKU_RE.match(sku):
        errors.append("bad sku")
    name = rec.get("name")
    if not isinstance(name, str) or not (1 <= len(name.strip()) <= MAX_NAME):
        errors.append("bad name")
    for field, limit in (("brand", MAX_BRAND), ("description", MAX_DESCRIPTION)):
        value = rec.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append("bad " + field)
    cat = rec.get("category")
    if not isinstance(cat, list) or not (1 <= len(cat) <= MAX_CATEGORY_DEPTH) or not all(
            isinstance(c, str) and c.strip() and len(c) <= MAX_CATEGORY_NAME for c in cat):
        errors.append("bad category")
    price = rec.get("price")
    if not isinstance(price, dict) or set(price) != {"amount", "currency"} \
            or not _is_int(price["amount"]) or price["amount"] < 0 \
            or price["currency"] != CURRENCY:
        errors.append("bad price")
    image = rec.get("image")
    if image is not None and first_http_url(image) != image:
        errors.append("bad image")
    pop = rec.get("popularity", 0)
    if not _is_int(pop) or pop < 0:
        errors.append("bad popularity")
    attrs = rec.get("attributes", {})
    if not isinstance(attrs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
        errors.append("bad attributes")
    return errors


# --------------------------------------------------------------------------
# Test fixture selection
# --------------------------------------------------------------------------

def select_fixture(records: list[dict]) -> list[dict]:
    """Pick about 300 records that tests can rely on (deterministic).

    Buckets, each taking the first N matches in catalog order:
      * every Best Buy product whose name contains "Samsung" (first 40)
      * 25 Flipkart products with "Laptop" in the name or category path
      * 25 Best Buy and 10 Flipkart products mentioning "Apple" or "iPhone"
        in the name or brand
      * 20 Flipkart shirts (Clothing, "Shirts" in the path), 20 Jewellery,
        20 Footwear, 20 Watches
      * 15 Flipkart products without a brand
      * 4 products of every top-level department (incl. "Other")
      * 15 Best Buy products from the other Cell Phones subcategories
      * edge cases: both records of each duplicated Flipkart pid, names and
        descriptions that were shortened, names that had HTML entities
    The result keeps catalog order (Flipkart first, then Best Buy).
    """
    def is_fk(r): return r["attributes"]["source"] == "flipkart"
    def is_bb(r): return r["attributes"]["source"] == "bestbuy"
    def path_has(r, word): return any(word.casefold() in c.casefold() for c in r["category"])
    def text(r): return (r["name"] + " " + (r["brand"] or "")).casefold()

    picked: dict[str, int] = {}

    def take(pred, n):
        got = 0
        for i, r in enumerate(records):
            if got >= n:
                break
            if pred(r):
                picked.setdefault(r["sku"], i)
                got += 1

    take(lambda r: is_bb(r) and "samsung" in r["name"].casefold(), 40)
    take(lambda r: is_fk(r) and ("laptop" in r["name"].casefold() or path_has(r, "laptop")), 25)
    take(lambda r: is_bb(r) and ("apple" in text(r) or "iphone" in text(r)), 25)
    take(lambda r: is_fk(r) and ("apple" in text(r) or "iphone" in text(r)), 10)
    take(lambda r: is_fk(r) and r["category"][0] == "Clothing" and path_has(r, "shirts"), 20)
    for dept in ("Jewellery", "Footwear", "Watches"):
        take(lambda r, d=dept: is_fk(r) and r["category"][0] == d, 20)
    take(lambda r: is_fk(r) and r["brand"] is None, 15)
    for dept in sorted({r["category"][0] for r in records}):
        take(lambda r, d=dept: r["category"][0] == d and is_fk(r), 4)
    for sub in sorted({r["category"][2] for r in records if is_bb(r) and len(r["category"]) > 2}):
        take(lambda r, s=sub: is_bb(r) and len(r["category"]) > 2 and r["category"][2] == s, 2)

    # Edge cases.
    dup_pids = {r["attributes"]["pid"] for r in records if is_fk(r) and r["sku"].count("-") > 1}
    take(lambda r: is_fk(r) and r["attributes"]["pid"] in dup_pids, 4)
    take(lambda r: r["description"] is not None and r["description"].endswith("…"), 2)
    take(lambda r: len(r["name"]) >= MAX_NAME - 5, 2)
    take(lambda r: is_bb(r) and "®" in r["name"], 2)

    return [records[i] for i in sorted(picked.values())]


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def dumps(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def write_gzip_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of names and times.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for rec in records:
            gz.write((dumps(rec) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


def write_plain_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(dumps(rec) + "\n")


def main(argv=None) -> int:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=repo.parent / "shared" / "data",
                    help="directory holding the source .jsonl.gz files")
    ap.add_argument("--out", type=Path, default=repo / "catalog" / "demo-catalog.jsonl.gz",
                    help="output file (gzip-compressed JSON Lines)")
    ap.add_argument("--fixture", type=Path, default=None,
                    help="also write the ~300-record plain JSONL test fixture here")
    args = ap.parse_args(argv)

    stats: collections.Counter = collections.Counter()
    skipped: collections.Counter = collections.Counter()

    records = list(flipkart_records(args.shared / FLIPKART_FILE, stats, skipped))
    n_flipkart = len(records)
    records += list(bestbuy_records(args.shared / BESTBUY_FILE, stats, skipped))
    n_bestbuy = len(records) - n_flipkart

    merge_category_spellings(records, stats)
    stats.update(TEXT_NOTES)

    valid, seen = [], set()
    for rec in records:
        errors = validate(rec)
        if rec["sku"] in seen:
            errors.append("duplicate sku")
        if errors:
            skipped["invalid after conversion: " + "; ".join(errors)] += 1
            continue
        seen.add(rec["sku"])
        valid.append(rec)

    write_gzip_jsonl(args.out, valid)

    print(f"read:     {stats['flipkart rows read']} Flipkart rows, "
          f"{stats['bestbuy rows read']} Best Buy rows")
    print(f"written:  {len(valid)} records to {args.out} "
          f"({n_flipkart} Flipkart, {n_bestbuy} Best Buy before validation)")
    print(f"skipped:  {sum(skipped.values())}")
    for reason, count in sorted(skipped.items()):
        print(f"  {count:6d}  {reason}")
    print("notes:")
    for key in sorted(k for k in stats if not k.endswith("rows read")):
        print(f"  {stats[key]:6d}  {key}")

    if args.fixture:
        fixture = select_fixture(valid)
        write_plain_jsonl(args.fixture, fixture)
        print(f"fixture:  {len(fixture)} records to {args.fixture}")
    return 0 if not any(k.startswith("invalid") for k in skipped) else 1


if __name__ == "__main__":
    sys.exit(main())
