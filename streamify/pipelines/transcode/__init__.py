"""The transcoding flow `streamify worker` serves, and the ffmpeg media steps it runs."""
