"""The business functions behind every transport: validate, authorize, read through loaders,
write through `streamify.writes`. They take a `resolvers.context.Context` and know nothing of
GraphQL or HTTP; the schema and the REST routes are thin adapters over them."""
