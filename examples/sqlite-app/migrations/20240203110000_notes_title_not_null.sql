-- SQLite cannot ALTER COLUMN: rebuild notes to make title NOT NULL.
PRAGMA foreign_keys = OFF;

CREATE TABLE notes_new (
    id         TEXT NOT NULL PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO notes_new (id, user_id, title, body, updated_at)
SELECT id, user_id, coalesce(title, ''), body, updated_at FROM notes;

DROP TABLE notes;
ALTER TABLE notes_new RENAME TO notes;

PRAGMA foreign_keys = ON;
