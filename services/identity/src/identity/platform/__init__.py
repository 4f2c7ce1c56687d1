"""The contractor's platform (issue 11): its accounts, and provisioning, suspending and resuming networks."""
