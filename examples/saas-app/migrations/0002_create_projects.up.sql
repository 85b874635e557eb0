CREATE TABLE IF NOT EXISTS projects (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS projects_account_id_idx ON projects (account_id);

-- Who may see a project. project_id is covered by the primary key; user_id is not.
CREATE TABLE IF NOT EXISTS project_members (
  project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'viewer',
  PRIMARY KEY (project_id, user_id)
);

-- An append-only log, written by triggers; nobody gave it a key.
CREATE TABLE IF NOT EXISTS audit_events (
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_id bigint,
  action text NOT NULL,
  payload jsonb
);
