"""The paper's analyses beyond learning curves: Q-value maps (:mod:`.qmap`) and stitching (:mod:`.stitching`)."""
