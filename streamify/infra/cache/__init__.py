"""The cache-aside tier over PostgreSQL: shared by the API (reads and writes) and the worker
(writes only). `tier` is the read path and invalidation, `redis_store` the Redis side,
`namespaces` the cached entity types, `drops` the L1-drop listener."""
