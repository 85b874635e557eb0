-- Accounts of the notes app (sqlx migrations, SQLite).
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL UNIQUE,
    name       TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
