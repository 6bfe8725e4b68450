-- A video's captions, one per language (BCP 47 tag, as normalised), stored as sanitised
-- WebVTT: the text every published caption file is made from again (new rungs, a
-- visibility change). `bytes` is the UTF-8 size of `vtt`, for the per-video bound.
CREATE TABLE captions (
    video_id   uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    language   text NOT NULL,
    label      text NOT NULL,
    vtt        text NOT NULL,
    bytes      integer NOT NULL,
    cues       integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, language),
    -- HLS: every rendition of a group has its own NAME.
    UNIQUE (video_id, label)
);
