ALTER TABLE users ADD CONSTRAINT users_name_length CHECK (length(name) <= 80);
