CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL,
  status text NOT NULL DEFAULT 'new',
  total_cents bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_status_check CHECK (status IN ('new', 'paid'))
);
-- Created in the same file as its table: the table is still empty, no lock problem.
CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at);
