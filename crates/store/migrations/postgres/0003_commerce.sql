-- Commerce: stock per product (with an audit trail), carts, orders with
-- their history, and idempotency keys for checkout. Ids are UUIDs;
-- times are Unix milliseconds; money is integer minor units.

-- Archived products stay for carts and order history but leave search.
ALTER TABLE products ADD COLUMN archived_at BIGINT;

CREATE TABLE inventory (
    product_id UUID    NOT NULL PRIMARY KEY REFERENCES products (id),
    on_hand    BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at BIGINT NOT NULL
);

CREATE TABLE stock_movements (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id     UUID    NOT NULL REFERENCES products (id),
    on_hand_before BIGINT NOT NULL,
    on_hand_after  BIGINT NOT NULL,
    reason         TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX stock_movements_product ON stock_movements (product_id, id);

-- A cart belongs to a signed-in user or to whoever holds its token (a guest).
CREATE TABLE carts (
    id         UUID    NOT NULL PRIMARY KEY,
    user_id    UUID    UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);

-- One line per product; unit_price is the price seen when it was added.
CREATE TABLE cart_lines (
    cart_id    UUID    NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id UUID    NOT NULL REFERENCES products (id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    unit_price BIGINT NOT NULL CHECK (unit_price >= 0),
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (cart_id, product_id)
);

CREATE TABLE orders (
    id               UUID    NOT NULL PRIMARY KEY,
    user_id          UUID    REFERENCES users (id),
    guest_email      TEXT,
    order_token_hash TEXT,
    status           TEXT    NOT NULL CHECK (status IN
                         ('pending_payment', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    currency         TEXT    NOT NULL,
    subtotal         BIGINT NOT NULL,
    shipping         BIGINT NOT NULL,
    tax              BIGINT NOT NULL,
    total            BIGINT NOT NULL,
    shipping_method  TEXT    NOT NULL,
    shipping_address JSONB   NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (guest_email IS NULL))
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, expires_at);

CREATE TABLE order_lines (
    order_id   UUID    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id UUID    NOT NULL,
    sku        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    unit_price BIGINT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- Every state an order entered, when, and on whose word.
CREATE TABLE order_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    UUID    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- Checkout requests by Idempotency-Key, per cart owner.
CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    order_id     UUID    NOT NULL REFERENCES orders (id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
