-- Catalog: categories (a tree with a closure table for subtree filters),
-- products with a weighted tsvector (GIN), and the indexed words with
-- trigram indexes for typo correction.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE catalog_meta (
    id      INT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO catalog_meta (id, version) VALUES (1, 0);

CREATE TABLE categories (
    key        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         UUID   NOT NULL UNIQUE,
    parent_key BIGINT REFERENCES categories (key),
    slug       TEXT   NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    path       TEXT[] NOT NULL,
    depth      INT    NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_key);

CREATE TABLE category_closure (
    ancestor   BIGINT NOT NULL REFERENCES categories (key),
    descendant BIGINT NOT NULL REFERENCES categories (key),
    depth      INT    NOT NULL,
    PRIMARY KEY (ancestor, descendant)
);
CREATE INDEX category_closure_descendant ON category_closure (descendant, ancestor);

CREATE TABLE products (
    key           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID   NOT NULL UNIQUE,
    sku           TEXT   NOT NULL UNIQUE,
    price         BIGINT NOT NULL CHECK (price >= 0),
    currency      TEXT   NOT NULL,
    popularity    BIGINT NOT NULL DEFAULT 0,
    category_key  BIGINT NOT NULL REFERENCES categories (key),
    brand_key     TEXT,
    name_key      TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    brand         TEXT,
    image         TEXT,
    category_text TEXT   NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    attributes    JSONB  NOT NULL DEFAULT '{}',
    description   TEXT,
    -- Name weighs most (A), then brand (B), category names (C), description (D).
    search        TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', coalesce(brand, '')), 'B') ||
        setweight(to_tsvector('english', category_text), 'C') ||
        setweight(to_tsvector('english', coalesce(description, '')), 'D')
    ) STORED
);
CREATE INDEX products_search ON products USING GIN (search);
CREATE INDEX products_popularity ON products (popularity DESC, key);
CREATE INDEX products_price ON products (price, key);
CREATE INDEX products_name ON products (name_key, key);
CREATE INDEX products_category ON products (category_key, popularity DESC);
CREATE INDEX products_brand ON products (brand_key);

-- Indexed words (lexemes) with document counts, refreshed by each import.
CREATE TABLE search_terms (
    term TEXT PRIMARY KEY,
    docs BIGINT NOT NULL
);
CREATE INDEX search_terms_trgm ON search_terms USING GIN (term gin_trgm_ops);
