-- Built without blocking writes to posts: diesel runs this migration outside a
-- transaction (metadata.toml), which CREATE INDEX CONCURRENTLY needs.
CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_published_created_at_idx
    ON posts (created_at DESC) WHERE published;
