"""`firstnet serve`: a drawing page and a JSON API over trained firstnet runs (FastAPI on
uvicorn)."""
