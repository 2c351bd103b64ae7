"""Test helpers for clientela and its plugins: a golden store, engine loaders and the
conformance check behind the `clientela_conformance` pytest fixture."""
