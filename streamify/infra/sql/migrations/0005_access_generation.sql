-- How many times who may see the video has changed (visibility changes). Signed media URLs
-- carry it as their policy's DateGreaterThan, as seconds after 1970 (a date long past, so
-- CloudFront's own date check passes), and the CDN's check refuses a signature that carries an
-- older one: every URL handed out before a change stops at once. A counter, not a clock: two
-- changes in one second still differ, and no policy is dated in the future.
ALTER TABLE videos ADD COLUMN access_generation integer NOT NULL DEFAULT 1;
