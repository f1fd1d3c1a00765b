//! End-to-end tests: one binary, one module per tool under test.
