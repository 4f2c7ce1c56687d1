"""The deployment's Ed25519 federation keys: published ahead of use, active, retiring, removed."""
