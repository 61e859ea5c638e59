"""The application server: loads the app, runs it on the HTTP core, manages its workers."""
