-- Sorts after 0009 (numerically 10 > 9), whatever the file system's listing order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_login_at_idx ON users (last_login_at);
