"""Use cases between the API and the storage, one module per domain."""
