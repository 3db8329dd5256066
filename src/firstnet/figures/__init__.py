"""One module per figure of the lecture: its numbers first (computed with the library, the Trainer
included), then its drawing (functions that take arrays and write image files atomically, headless).
Shared look: `firstnet.figures.style`."""
