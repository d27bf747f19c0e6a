"""One router per TSB tag; ``docs`` serves OpenAPI and Swagger UI."""
