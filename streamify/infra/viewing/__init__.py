"""Counting what viewers do: playback events counted in Redis shards (counter), written behind
to PostgreSQL exactly once (flusher), read back with what is still pending (reader), and
videos ranked by decayed views (trending)."""
