-- Payments (PostgreSQL): card payments of orders (the durable payment queue is the
-- in-flight rows), refunds, and the provider's webhook events already
-- applied. No column holds card data: only the provider's token for it.

-- The payment being made for an order, if any: while it is set the order
-- can be neither paid another way, cancelled nor expired.
ALTER TABLE orders ADD COLUMN payment_in_flight UUID;

CREATE TABLE payments (
    id                 UUID    NOT NULL PRIMARY KEY,
    order_id           UUID    NOT NULL REFERENCES orders (id),
    status             TEXT    NOT NULL CHECK (status IN
                           ('processing', 'queued', 'succeeded', 'declined', 'failed')),
    amount             BIGINT  NOT NULL CHECK (amount >= 0),
    currency           TEXT    NOT NULL,
    -- The provider's single-use token (pm_…), never a card number.
    payment_token      TEXT    NOT NULL,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    provider_reference TEXT,
    -- Succeeded for an order that could no longer take it (cancelled, or
    -- paid by another payment): money to give back; never refunded
    -- against the order's own payment.
    orphaned           BOOLEAN NOT NULL DEFAULT false,
    decline_code       TEXT,
    message            TEXT,
    attempts           BIGINT  NOT NULL DEFAULT 0,
    -- In flight: when the payment is next due (end of a lease or backoff).
    next_attempt_at    BIGINT,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX payments_order ON payments (order_id, id);
-- The queue: in-flight payments by when they are due.
CREATE INDEX payments_due ON payments (status, next_attempt_at);
CREATE INDEX payments_reference ON payments (provider_reference);

CREATE TABLE refunds (
    id                 UUID    NOT NULL PRIMARY KEY,
    order_id           UUID    NOT NULL REFERENCES orders (id),
    payment_id         UUID    NOT NULL REFERENCES payments (id),
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    amount             BIGINT  NOT NULL CHECK (amount > 0),
    idempotency_key    TEXT    NOT NULL UNIQUE,
    provider_reference TEXT,
    reason             TEXT,
    actor              TEXT    NOT NULL,
    message            TEXT,
    next_attempt_at    BIGINT,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id, id);
CREATE INDEX refunds_due ON refunds (status, next_attempt_at);

-- Webhook events applied, by the provider's event id.
CREATE TABLE provider_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    received_at BIGINT  NOT NULL
);
