//! Finding the project's binaries and the system's tools.
