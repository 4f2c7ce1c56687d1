"""Agreements (協定) between one of this deployment's networks and a peer network: proposed, accepted, suspended,
resumed, ended, each step travelling to the peer as a signed message."""
