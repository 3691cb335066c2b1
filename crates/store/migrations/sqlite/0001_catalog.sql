-- Catalog: categories (a tree with a closure table for subtree filters),
-- products, and an FTS5 index over them kept in sync by triggers.

CREATE TABLE catalog_meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_meta (id, version) VALUES (1, 0);

CREATE TABLE categories (
    key        INTEGER PRIMARY KEY,
    id         BLOB    NOT NULL UNIQUE,
    parent_key INTEGER REFERENCES categories (key),
    slug       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    path       TEXT    NOT NULL, -- JSON array of names from the root
    depth      INTEGER NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_key);

-- Every (ancestor, descendant) pair, including each category with itself.
CREATE TABLE category_closure (
    ancestor   INTEGER NOT NULL REFERENCES categories (key),
    descendant INTEGER NOT NULL REFERENCES categories (key),
    depth      INTEGER NOT NULL,
    PRIMARY KEY (ancestor, descendant)
) WITHOUT ROWID;
CREATE INDEX category_closure_descendant ON category_closure (descendant, ancestor);

CREATE TABLE products (
    -- Small, hot columns first: SQLite reads a row up to the column it
    -- needs, so long descriptions go last.
    key           INTEGER PRIMARY KEY,
    id            BLOB    NOT NULL UNIQUE,
    sku           TEXT    NOT NULL UNIQUE,
    price         INTEGER NOT NULL CHECK (price >= 0),
    currency      TEXT    NOT NULL,
    popularity    INTEGER NOT NULL DEFAULT 0,
    category_key  INTEGER NOT NULL REFERENCES categories (key),
    brand_key     TEXT,
    name_key      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    brand         TEXT,
    image         TEXT,
    category_text TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    attributes    TEXT    NOT NULL DEFAULT '{}',
    description   TEXT
);
CREATE INDEX products_popularity ON products (popularity DESC, key);
CREATE INDEX products_price ON products (price, key);
CREATE INDEX products_name ON products (name_key, key);
CREATE INDEX products_category ON products (category_key, popularity DESC);
CREATE INDEX products_brand ON products (brand_key);

-- Name weighs most, then brand, category names and description (see bm25
-- weights in the adapter). Porter stemming; prefix indexes for type-ahead.
CREATE VIRTUAL TABLE products_fts USING fts5 (
    name, brand, category_text, description,
    content = 'products', content_rowid = 'key',
    tokenize = 'porter unicode61 remove_diacritics 2',
    prefix = '2 3 4'
);

CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, name, brand, category_text, description)
    VALUES (new.key, new.name, new.brand, new.category_text, new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, brand, category_text, description)
    VALUES ('delete', old.key, old.name, old.brand, old.category_text, old.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, brand, category_text, description)
    VALUES ('delete', old.key, old.name, old.brand, old.category_text, old.description);
    INSERT INTO products_fts (rowid, name, brand, category_text, description)
    VALUES (new.key, new.name, new.brand, new.category_text, new.description);
END;

-- The indexed words with document counts: the source of typo corrections.
CREATE VIRTUAL TABLE products_vocab USING fts5vocab (products_fts, 'row');
