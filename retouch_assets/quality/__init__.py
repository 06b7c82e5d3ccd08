"""Pure image-quality logic: colour difference, histograms, contrast, hashing, decoding."""
