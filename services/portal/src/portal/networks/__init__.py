"""What the portal does with identity's networks (issue 11): the first terms of use of a new network from the
template, its notice period, and the page a suspended network shows."""
