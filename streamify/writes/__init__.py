"""The write side: one module per aggregate owns its state changes and their cache effects."""
