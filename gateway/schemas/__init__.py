"""REST request and response bodies (snake_case JSON), one module per backend."""
