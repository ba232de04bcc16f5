-- Per-group settings (JSON), such as the upstream address policy.
ALTER TABLE groups ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
