"""Pure code: no database, network or clock reads. Everything here is unit-tested directly."""
