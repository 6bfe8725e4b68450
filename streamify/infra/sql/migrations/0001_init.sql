-- Users, videos, uploads, renditions and manifests. Every UPDATE of a cached row bumps `version`
-- (trigger below), which the cache tier uses to refuse stale fills.

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    email        text NOT NULL UNIQUE,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    version      bigint NOT NULL DEFAULT 1
);

CREATE TYPE visibility AS ENUM ('PUBLIC', 'UNLISTED', 'PRIVATE');
CREATE TYPE video_status AS ENUM ('UPLOADING', 'UPLOADED', 'PROCESSING', 'READY', 'FAILED');
CREATE TYPE upload_status AS ENUM ('PENDING', 'COMPLETED', 'ABORTED', 'EXPIRED');

CREATE TABLE videos (
    id               uuid PRIMARY KEY,
    owner_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    tags             text[] NOT NULL DEFAULT '{}',
    visibility       visibility NOT NULL DEFAULT 'PUBLIC',
    status           video_status NOT NULL DEFAULT 'UPLOADING',
    duration_seconds double precision,
    failure_reason   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          bigint NOT NULL DEFAULT 1
);

-- Keyset pagination: newest first, id breaks ties.
CREATE INDEX videos_feed_idx ON videos (status, visibility, created_at DESC, id DESC);
CREATE INDEX videos_owner_idx ON videos (owner_id, created_at DESC, id DESC);

CREATE TABLE uploads (
    id               uuid PRIMARY KEY,
    video_id         uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    owner_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename         text NOT NULL,
    content_type     text NOT NULL,
    size_bytes       bigint NOT NULL CHECK (size_bytes > 0),
    part_size_bytes  bigint NOT NULL CHECK (part_size_bytes > 0),
    part_count       integer NOT NULL CHECK (part_count BETWEEN 1 AND 10000),
    s3_bucket        text NOT NULL,
    s3_key           text NOT NULL,
    s3_upload_id     text NOT NULL,
    status           upload_status NOT NULL DEFAULT 'PENDING',
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          bigint NOT NULL DEFAULT 1
);
CREATE INDEX uploads_video_idx ON uploads (video_id);
CREATE INDEX uploads_pending_expiry_idx ON uploads (expires_at) WHERE status = 'PENDING';

CREATE TABLE renditions (
    video_id      uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    height        integer NOT NULL,
    width         integer NOT NULL,
    bitrate       integer NOT NULL,
    codecs        text NOT NULL,
    playlist_path text NOT NULL,
    PRIMARY KEY (video_id, height)
);

-- One HLS master per video; paths are relative to the media bucket / CDN base URL.
CREATE TABLE manifests (
    video_id       uuid PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    master_path    text NOT NULL,
    thumbnail_path text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE FUNCTION bump_user_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER videos_bump_version BEFORE UPDATE ON videos
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER uploads_bump_version BEFORE UPDATE ON uploads
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER users_bump_version BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_user_version();
