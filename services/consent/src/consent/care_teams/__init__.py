"""Care teams (C6): members, invitations and their answers."""
