"""What starts transcoding runs, inside each API process: S3 event intake (webhook or SQS) and
the starter of runs of the transcoding deployment. They write through `streamify.writes` and
know no transport."""
