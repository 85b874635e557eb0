-- orders existed before this file: these statements lock a table that holds rows.
ALTER TABLE orders ADD CONSTRAINT orders_account_id_fkey
  FOREIGN KEY (account_id) REFERENCES accounts (id);

CREATE INDEX orders_account_id_idx ON orders (account_id);
