"""Region graph constructions, one module each: image shape (+ options) -> RegionGraph."""
