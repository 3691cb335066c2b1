-- Provider events (PostgreSQL) the shop refused to act on: a success whose intent,
-- amount or currency is not what was asked, or that arrives for a payment
-- already settled another way. Never `paid`; kept for staff to look at
-- (money may have moved at the provider).

CREATE TABLE payment_anomalies (
    id         UUID    NOT NULL PRIMARY KEY,
    payment_id UUID    NOT NULL REFERENCES payments (id),
    order_id   UUID    NOT NULL REFERENCES orders (id),
    event_id   TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    at         BIGINT  NOT NULL
);

CREATE INDEX payment_anomalies_order ON payment_anomalies (order_id, at);
