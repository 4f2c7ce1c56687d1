"""The network's own settings: retention, support hours, withdrawal mode, password and session rules."""
