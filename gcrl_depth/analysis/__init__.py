"""The paper's analyses beyond learning curves: Q-value maps (:mod:`.qmap`), stitching
(:mod:`.stitching`) and behaviour statistics for critical depths (:mod:`.behaviour`)."""
