"""Reports of the reproduction: claims, the offline HTML page, the W&B report."""
