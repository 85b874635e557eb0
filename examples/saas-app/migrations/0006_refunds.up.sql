-- A new status: the CHECK written in 0003 is dropped and written again.
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('new', 'paid', 'refunded'));
