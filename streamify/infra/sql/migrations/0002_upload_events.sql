-- Uppy's create call does not say how big the file is: the size is then known at completion.
ALTER TABLE uploads ALTER COLUMN size_bytes DROP NOT NULL;
ALTER TABLE uploads ADD COLUMN completed_size_bytes bigint;
ALTER TABLE uploads ADD COLUMN failure_reason text;

-- Every S3 object event that reached us, once: the primary key is what makes a second
-- delivery of the same event (SQS at-least-once, webhook retries) a no-op.
CREATE TABLE s3_events (
    dedupe_key  text PRIMARY KEY,
    bucket      text NOT NULL,
    object_key  text NOT NULL,
    video_id    uuid REFERENCES videos (id) ON DELETE CASCADE,
    event_name  text NOT NULL,
    size_bytes  bigint,
    etag        text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX s3_events_video_idx ON s3_events (video_id);
