-- Per-user quotas add up a user's uploads at every create, sign and completion.
CREATE INDEX uploads_owner_idx ON uploads (owner_id, status);
