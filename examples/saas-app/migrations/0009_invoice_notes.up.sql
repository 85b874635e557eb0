ALTER TABLE invoices ADD COLUMN IF NOT EXISTS notes text;
-- A typo: the trailing comma makes this statement fail in PostgreSQL.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS paid_at timestamptz,;
