-- Commerce: stock per product (with an audit trail), carts, orders with
-- their history, and idempotency keys for checkout. Ids are 16-byte BLOBs;
-- times are Unix milliseconds; money is integer minor units.

-- Archived products stay for carts and order history but leave search.
ALTER TABLE products ADD COLUMN archived_at INTEGER;

CREATE TABLE inventory (
    product_id BLOB    NOT NULL PRIMARY KEY REFERENCES products (id),
    on_hand    INTEGER NOT NULL CHECK (on_hand >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at INTEGER NOT NULL
);

CREATE TABLE stock_movements (
    id             INTEGER PRIMARY KEY,
    product_id     BLOB    NOT NULL REFERENCES products (id),
    on_hand_before INTEGER NOT NULL,
    on_hand_after  INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX stock_movements_product ON stock_movements (product_id, id);

-- A cart belongs to a signed-in user or to whoever holds its token (a guest).
CREATE TABLE carts (
    id         BLOB    NOT NULL PRIMARY KEY,
    user_id    BLOB    UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);

-- One line per product; unit_price is the price seen when it was added.
CREATE TABLE cart_lines (
    cart_id    BLOB    NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id BLOB    NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE orders (
    id               BLOB    NOT NULL PRIMARY KEY,
    user_id          BLOB    REFERENCES users (id),
    guest_email      TEXT,
    order_token_hash TEXT,
    status           TEXT    NOT NULL CHECK (status IN
                         ('pending_payment', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    currency         TEXT    NOT NULL,
    subtotal         INTEGER NOT NULL,
    shipping         INTEGER NOT NULL,
    tax              INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    shipping_method  TEXT    NOT NULL,
    shipping_address TEXT    NOT NULL, -- JSON
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (guest_email IS NULL))
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, expires_at);

CREATE TABLE order_lines (
    order_id   BLOB    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id BLOB    NOT NULL,
    sku        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    unit_price INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- Every state an order entered, when, and on whose word.
CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    order_id    BLOB    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- Checkout requests by Idempotency-Key, per cart owner.
CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    order_id     BLOB    NOT NULL REFERENCES orders (id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
