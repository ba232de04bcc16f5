-- Consumers managed through the admin API have a plan (its name in the
-- group's config; '' for none) and groups (a JSON array of names).
ALTER TABLE consumers ADD COLUMN plan TEXT NOT NULL DEFAULT '';
ALTER TABLE consumers ADD COLUMN groups_json TEXT NOT NULL DEFAULT '[]';
