"""The lab: the lecture's live moments in the browser, trained in the server by the one `Trainer`
(`firstnet lab`, or /lab on `firstnet serve`). `action.py`: the "Action!" panel's training on a 2-D
toy set, frame by frame; `routes.py`: its page and API (docs/lab.md)."""
