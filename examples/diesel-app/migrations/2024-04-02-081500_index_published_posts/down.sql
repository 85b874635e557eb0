DROP INDEX CONCURRENTLY IF EXISTS posts_published_created_at_idx;
