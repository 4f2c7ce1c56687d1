"""Login sessions (S1, i11, i12): signing in, refreshing tokens, listing and ending sessions."""
