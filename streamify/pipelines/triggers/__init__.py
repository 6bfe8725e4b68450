"""Background jobs that run inside each API process: S3 event intake, the upload sweeper,
recovery of stalled videos. They write through `streamify.writes` and know no transport."""
