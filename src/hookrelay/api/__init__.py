"""The Litestar API: app factory, auth, problem details, one folder per resource."""
