-- A token may be bound to one consumer: it then reads only that
-- consumer's usage and statements (what the developer portal acts with).
ALTER TABLE admin_tokens ADD COLUMN consumer TEXT NOT NULL DEFAULT '';
