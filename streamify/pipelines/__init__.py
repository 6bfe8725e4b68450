"""The upload -> READY pipeline, grouped the way the data flows: `triggers` turn S3 events into
runs of the transcoding deployment, `transcode` is that Prefect flow and its ffmpeg steps (run by
`streamify worker`), and `sweeps` guard both from the API (expired uploads, stalled videos).
Nothing here knows requests: no loaders, resolvers, schema or web."""
