"""The OpenAPI description of POST /api/predict, added to the schema FastAPI generates for the
other routes (/openapi.json): the predict route is a plain Starlette route that reads its raw body,
which FastAPI cannot describe by itself.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PREDICT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number"}},
                            "description": "grayscale rows in [0, 1]: 28x28 MNIST-like, "
                            "or a canvas of any size",
                        },
                        "model": {
                            "type": "string",
                            "description": "run name or kind (linear, mlp, cnn); default: the MLP",
                        },
                        "preprocess": {
                            "type": "boolean",
                            "description": "default: false for 28x28, true otherwise",
                        },
                    },
                }
            },
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "model": {"type": "string"},
                    },
                }
            },
        },
    },
    "parameters": [
        {
            "name": "model",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "run name or kind, for PNG uploads",
        }
    ],
    "summary": "classify a digit",
    "responses": {
        "200": {
            "description": "class, probabilities (10), image (28x28 the model saw), hidden (MLP: "
            "one list per hidden layer, else null), model, kind, preprocessed"
        },
        **{
            str(code): {"description": '{"error": "what was wrong"}'}
            for code in (400, 413, 415, 422)
        },
    },
}


def add_predict_schema(app: FastAPI) -> None:
    """Describe POST /api/predict in the schema FastAPI generates for the other routes (see
    `add_routes` in firstnet.serve.app)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema["paths"]["/api/predict"] = {"post": PREDICT_DOC}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
