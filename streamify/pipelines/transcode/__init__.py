"""The transcoding worker: the Prefect flow and the ffmpeg media steps it runs."""
