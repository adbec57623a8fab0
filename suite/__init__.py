"""The suite: the composition of every service, the embedded runner and the `estuary` CLI."""
