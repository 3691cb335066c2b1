-- The simulator's ledger. Card numbers and CVCs are never stored: a
-- payment method keeps brand, last four digits, expiry and the behaviour
-- of the test card it was made from.

CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY NOT NULL,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    exp_month   INTEGER NOT NULL,
    exp_year    INTEGER NOT NULL,
    funding     TEXT NOT NULL,
    cvc_check   TEXT,
    behavior    TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created     INTEGER NOT NULL
);

-- Single-use card tokens (`tok_…`), each backed by a payment method.
CREATE TABLE tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    card_id         TEXT NOT NULL,
    payment_method  TEXT NOT NULL REFERENCES payment_methods (id),
    used            INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL
);

CREATE TABLE payment_intents (
    id                  TEXT PRIMARY KEY NOT NULL,
    amount              INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    capture_method      TEXT NOT NULL,
    payment_method      TEXT REFERENCES payment_methods (id),
    amount_capturable   INTEGER NOT NULL DEFAULT 0,
    amount_received     INTEGER NOT NULL DEFAULT 0,
    latest_charge       TEXT,
    last_payment_error  TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    description         TEXT,
    client_secret       TEXT NOT NULL,
    cancellation_reason TEXT,
    canceled_at         INTEGER,
    created             INTEGER NOT NULL
);
CREATE INDEX payment_intents_created ON payment_intents (created DESC);

CREATE TABLE charges (
    id              TEXT PRIMARY KEY NOT NULL,
    payment_intent  TEXT NOT NULL REFERENCES payment_intents (id),
    payment_method  TEXT NOT NULL REFERENCES payment_methods (id),
    amount          INTEGER NOT NULL,
    amount_captured INTEGER NOT NULL DEFAULT 0,
    amount_refunded INTEGER NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    captured        INTEGER NOT NULL DEFAULT 0,
    failure_code    TEXT,
    failure_message TEXT,
    created         INTEGER NOT NULL,
    CHECK (amount_refunded <= amount_captured)
);
CREATE INDEX charges_payment_intent ON charges (payment_intent);

CREATE TABLE refunds (
    id              TEXT PRIMARY KEY NOT NULL,
    charge          TEXT NOT NULL REFERENCES charges (id),
    payment_intent  TEXT NOT NULL REFERENCES payment_intents (id),
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    reason          TEXT,
    status          TEXT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    created         INTEGER NOT NULL
);
CREATE INDEX refunds_payment_intent ON refunds (payment_intent);

-- The first response to each Idempotency-Key; `status` is NULL while the
-- first request is still executing.
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER,
    body        BLOB,
    created_at  INTEGER NOT NULL
);

-- Events (an outbox: written in the transaction that changed the state)
-- and their webhook delivery state.
CREATE TABLE events (
    id              TEXT PRIMARY KEY NOT NULL,
    type            TEXT NOT NULL,
    created         INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    delivery        TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX events_due ON events (delivery, next_attempt_ms);
CREATE INDEX events_created ON events (created DESC);
