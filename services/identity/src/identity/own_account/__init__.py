"""One's own account, signed in: profile (name, kana), password, authenticator; sessions are in sessions/."""
