-- What viewers do with a video, written behind from Redis (infra/viewing/flusher.py) once per
-- flush: totals per video, hourly buckets, startup-time histograms and watch time per
-- rendition height per hour, the unique-viewer sketch of each counter shard, and the ids of
-- the flushes applied (so a flush retried after a crash is never applied twice).
CREATE TABLE video_stats (
    video_id   uuid PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    views      bigint NOT NULL DEFAULT 0,
    watch_ms   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- MOST_VIEWED: keyset pages by (views, id).
CREATE INDEX video_stats_by_views ON video_stats (views DESC, video_id DESC);

CREATE TABLE video_stats_hourly (
    video_id    uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    hour        timestamptz NOT NULL,
    views       bigint NOT NULL DEFAULT 0,
    watch_ms    bigint NOT NULL DEFAULT 0,
    rebuffer_ms bigint NOT NULL DEFAULT 0,
    errors      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, hour)
);

-- Startup times (play() to first frame) as counts per histogram bucket (infra/viewing/
-- events.STARTUP_BUCKETS_MS): percentiles without keeping every sample.
CREATE TABLE video_startup_hourly (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    hour     timestamptz NOT NULL,
    bucket   smallint NOT NULL,
    samples  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, hour, bucket)
);

CREATE TABLE video_rendition_hourly (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    hour     timestamptz NOT NULL,
    height   integer NOT NULL,
    watch_ms bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, hour, height)
);

-- Unique viewers: each counter shard holds a HyperLogLog of the sessions it counts (sessions
-- are split between shards, so the estimates add up); kept here as of the last flush, to
-- answer while Redis is away and to restore a sketch Redis lost.
CREATE TABLE video_viewer_sketches (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    shard    smallint NOT NULL,
    estimate bigint NOT NULL,
    sketch   bytea NOT NULL,
    PRIMARY KEY (video_id, shard)
);

CREATE TABLE stats_flushes (
    flush_id   text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stats_flushes_by_time ON stats_flushes (applied_at);

-- Every video has its totals row from the start, so MOST_VIEWED walks one index over all of
-- them (views 0 last, newest first among equals by id).
INSERT INTO video_stats (video_id) SELECT id FROM videos ON CONFLICT DO NOTHING;

CREATE FUNCTION video_stats_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO video_stats (video_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER videos_stats_row AFTER INSERT ON videos
    FOR EACH ROW EXECUTE FUNCTION video_stats_row();
