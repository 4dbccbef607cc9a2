"""Inter-site transfer: copies sent between Sexton sites, over the network or on drives."""
