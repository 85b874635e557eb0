-- Your SQL goes here
ALTER TABLE posts ADD COLUMN slug TEXT;
