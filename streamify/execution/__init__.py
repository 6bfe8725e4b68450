"""Compiled GraphQL execution: a validated operation is compiled once into a plan over the
Strawberry schema and run level by level, beside Strawberry, with the same results.

- `plan`: what a compiled operation is made of (object plans, field plans, completions).
- `compiler`: document + operation name → plan, or the reason it falls back to Strawberry.
- `safety`: the proof that a resolver may run without graphql-core's resolve info.
- `batched`: loader-backed fields resolved for a whole level with one load per key.
- `runner`: runs a plan for one request, with graphql-core's error and null semantics.
- `engine`: the per-schema cache of compiled operations, the entry point of the HTTP layer.
"""
