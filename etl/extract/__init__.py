"""Extract connectors, one per transport; each turns a feed into sources to land as batches."""
