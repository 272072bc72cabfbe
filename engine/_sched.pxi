# Rate scheduler: filled in by the pacing work.
