"""Dev-only tooling: embedded PostgreSQL, Redis and S3 servers, bucket setup, demo data and
synthetic clips. `streamify dev`, the tests and the benchmarks use it; production never does."""
